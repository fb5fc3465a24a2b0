-- Why: sms_conversion and sms_pumping joined every send to the phone facts and to the set
-- of verified numbers, then grouped every send by number: 29 and 53 times a scan of the
-- ledger at a million users (docs/benchmarks.md, Reports). Now each ledger row keeps
-- whether it counts its number for its day and whether that number was verified, and
-- clerk.sms_prefix_days keeps the per-day, per-prefix sums the two reports read. Both are
-- defined by the function of sql/views/05_sms_message_facts.sql, whose file also
-- installs the triggers that keep them in the same transaction as every write to the
-- ledger, the phone facts and the phones, and fills them when it runs.

ALTER TABLE clerk.sms_messages
    ADD COLUMN counts_number   boolean NOT NULL DEFAULT false,
    ADD COLUMN number_verified boolean NOT NULL DEFAULT false;
GRANT SELECT (counts_number, number_verified) ON clerk.sms_messages TO clerk_reporting;

-- A number's rows without it (erased): by phone id. Verified by number: the phones by
-- number, through phone_numbers_number_idx (0025, which the shared-numbers report reads too).
CREATE INDEX sms_messages_phone_id_idx ON clerk.sms_messages (phone_number_id)
    WHERE phone_number_id IS NOT NULL;

-- Per UTC day, region and prefix: the ledger's rows, the numbers they count, and those of
-- them verified. Prefixes and counts only, no number: the reporting role reads it.
CREATE TABLE clerk.sms_prefix_days (
    day              date   NOT NULL,
    region_code      text,
    number_prefix    text,
    -- integer: a prefix covers ten thousand numbers, and its sums add up fast as bigint
    sends            integer NOT NULL,
    numbers_sent_to  integer NOT NULL,
    numbers_verified integer NOT NULL,
    -- in the order of sms_pumping's window: each prefix's days in a row
    CONSTRAINT sms_prefix_days_key UNIQUE NULLS NOT DISTINCT (region_code, number_prefix, day)
);
GRANT SELECT ON clerk.sms_prefix_days TO clerk_reporting;
