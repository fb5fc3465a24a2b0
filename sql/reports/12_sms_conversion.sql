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
-- It sums `clerk.sms_prefix_days`, which the writers keep from the ledger's per-row facts
-- (`clerk.sms_message_facts`, sql/views/05) in the transaction of each write: a number's
-- prefix and region come from the number, so the numbers of a day's prefixes add up to
-- the numbers of its region.

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
-- It runs as its owner, with a fixed search path, as it did when it read the raw numbers.
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
WITH daily AS (
    SELECT d.day, d.region_code,
           sum(d.sends) AS codes_sent,
           sum(d.numbers_sent_to) AS numbers_sent_to,
           sum(d.numbers_verified) AS numbers_verified
    FROM clerk.sms_prefix_days AS d
    GROUP BY d.day, d.region_code
)
SELECT day, region_code, codes_sent, numbers_sent_to, numbers_verified,
       round(numbers_verified::numeric / NULLIF(numbers_sent_to, 0), 4) AS conversion
FROM daily
ORDER BY day, region_code NULLS LAST
$$;

-- It runs as its owner: only the reporting roles may call it, not PUBLIC's default.
REVOKE EXECUTE ON FUNCTION clerk.sms_conversion() FROM PUBLIC;

CREATE OR REPLACE VIEW clerk.report_sms_conversion AS
SELECT * FROM clerk.sms_conversion();

GRANT EXECUTE ON FUNCTION clerk.sms_conversion() TO clerk_reporting;
GRANT SELECT ON clerk.report_sms_conversion TO clerk_reporting;
COMMENT ON FUNCTION clerk.sms_conversion() IS
    'report_sms_conversion, as a function that runs as its owner (it reads the raw numbers)';
COMMENT ON VIEW clerk.report_sms_conversion IS
    'Per day and region, how many codes were sent by SMS, to how many numbers, and how many of those numbers were verified?';
