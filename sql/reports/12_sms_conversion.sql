-- clerk.report_sms_conversion (view), over clerk.sms_conversion() (function)
--
-- Question: Per day and region, how many codes were sent by SMS, to how many numbers, and how many of those numbers were verified?
--
-- Columns:
--   day: the day (UTC) the messages were created.
--   region_code: the region of the numbers sent to; NULL when a number names none.
--   codes_sent: messages in the SMS ledger (every sms.created: sign-up, sign-in, second
--     factor, Device Trust).
--   numbers_sent_to: distinct numbers among them.
--   numbers_verified: of those numbers, the ones the mirror has seen verified.
--   conversion: numbers_verified / numbers_sent_to; NULL when nothing was sent.
--
-- Empty mirror: no rows.
--
-- From `clerk.sms_messages`. A number counts as verified when any phone the mirror holds
-- or held with that number (by the message's `phone_number_id`, or by the number itself
-- for a send before the sign-up finished) reached `verified` in its history
-- (`clerk.phone_facts.first_verified_at`). So a sign-in code to a number verified long ago
-- converts; a code to a number nobody ever verified does not, which is the signal of SMS
-- pumping. An erased message has no number left: it counts under its phone id, or as a
-- number of its own. Unlike `sms_verification_by_region_day`, which divides by numbers
-- added, this counts every code sent, whatever it was sent for.
--
-- It reads `clerk.sms_region_days`, which the writers keep from the ledger's per-row facts
-- (`clerk.sms_message_facts`, sql/views/05) in the transaction of each write, as the sums
-- of `clerk.sms_prefix_days` over each region's prefixes: a number's prefix and region come
-- from the number, so the numbers of a day's prefixes add up to the numbers of its region.
-- A plain SQL function of one query, run as its caller, so that the view reads the table
-- itself: the rows come in the order of the table's key.

CREATE OR REPLACE FUNCTION clerk.sms_conversion()
RETURNS TABLE (
    day              date,
    region_code      text,
    codes_sent       bigint,
    numbers_sent_to  bigint,
    numbers_verified bigint,
    conversion       numeric
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT d.day, d.region_code, d.sends, d.numbers_sent_to, d.numbers_verified, d.conversion
FROM clerk.sms_region_days AS d
ORDER BY d.day, d.region_code NULLS LAST
$$;

-- Only the reporting roles call it, as when it ran as its owner (before 0032).
REVOKE EXECUTE ON FUNCTION clerk.sms_conversion() FROM PUBLIC;

CREATE OR REPLACE VIEW clerk.report_sms_conversion AS
SELECT * FROM clerk.sms_conversion();

GRANT EXECUTE ON FUNCTION clerk.sms_conversion() TO clerk_reporting;
GRANT SELECT ON clerk.report_sms_conversion TO clerk_reporting;
COMMENT ON FUNCTION clerk.sms_conversion() IS
    'report_sms_conversion, as a function';
COMMENT ON VIEW clerk.report_sms_conversion IS
    'Per day and region, how many codes were sent by SMS, to how many numbers, and how many of those numbers were verified?';
