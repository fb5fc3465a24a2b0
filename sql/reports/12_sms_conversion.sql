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
-- It counts distinct numbers, which clerk_reporting may not read: it runs as its owner,
-- and returns counts only. It groups every send by number in memory: at the default 4 MB
-- that spills to disk and takes several times as long (docs/benchmarks.md, Reports).
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET work_mem = '64MB'
AS $$
WITH verified_numbers AS (
    SELECT DISTINCT p.phone_number
    FROM clerk.phone_numbers AS p
    JOIN clerk.phone_facts AS f ON f.phone_number_id = p.id
    WHERE p.phone_number IS NOT NULL AND f.first_verified_at IS NOT NULL
), sends AS (
    SELECT (s.created_at AT TIME ZONE 'UTC')::date AS day, s.region_code,
           coalesce(s.phone_number, s.phone_number_id, s.id) AS number_key,
           (f.first_verified_at IS NOT NULL OR v.phone_number IS NOT NULL) AS verified
    FROM clerk.sms_messages AS s
    LEFT JOIN clerk.phone_facts AS f ON f.phone_number_id = s.phone_number_id
    LEFT JOIN verified_numbers AS v ON v.phone_number = s.phone_number
), daily AS (
    SELECT day, region_code,
           count(*) AS codes_sent,
           count(DISTINCT number_key) AS numbers_sent_to,
           count(DISTINCT number_key) FILTER (WHERE verified) AS numbers_verified
    FROM sends
    GROUP BY day, region_code
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
