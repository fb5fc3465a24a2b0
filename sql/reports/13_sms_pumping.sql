-- clerk.report_sms_pumping (view), over
-- clerk.sms_pumping(min_sends, min_jump, min_drop, max_new_conversion) (function)
--
-- Question: Per day, region and number prefix, do the SMS sends jump above the prefix's own baseline while conversion falls (SMS pumping)?
--
-- Columns:
--   day: the day (UTC) the messages were created.
--   region_code: the region of the numbers; NULL when a number names none.
--   number_prefix: the numbers without their last four digits (NULL once erased).
--   sends: messages sent that day to numbers under the prefix.
--   numbers_sent_to: distinct numbers among them.
--   numbers_verified: of those, the ones the mirror has seen verified (as in
--     `sms_conversion`).
--   conversion: numbers_verified / numbers_sent_to; NULL when nothing was sent.
--   baseline_daily_sends: the prefix's sends over the 28 days before this one, divided
--     by 28.
--   baseline_conversion: verified / numbers sent to over those 28 days (a number counted
--     once per day it was sent to); NULL when nothing was sent then.
--   jump: sends / baseline_daily_sends, the baseline taken as at least 1 a day.
--   suspicious: whether the day looks like SMS pumping (below).
--   reason: why it is suspicious, in words; NULL when it is not.
--
-- Empty mirror: no rows.
--
-- SMS pumping (toll fraud) sends codes to ranges of numbers that attackers control, and
-- the Clerk customer pays for each. Fraud systems watch the range, not the number: the
-- prefix here is the number without its last four digits, so a burst over ten thousand
-- consecutive numbers shows as one row. No provider publishes its thresholds, so these are
-- explicit and adjustable. A day is suspicious when all of these hold:
--
-- 1. it has at least `min_sends` sends (default 20): a handful proves nothing;
-- 2. its sends are at least `min_jump` times (default 5) the prefix's baseline a day, the
--    baseline taken as at least one send a day, so that a prefix with no past needs
--    `min_sends` and `min_jump` sends alike;
-- 3. conversion falls: at least `min_drop` (default 0.3, 30 points) below the baseline's,
--    or, for a prefix with no sends in the 28 days before, at most `max_new_conversion`
--    (default 0.2).
--
-- To tune, call the function with thresholds of your own, for example
-- `SELECT * FROM clerk.sms_pumping(min_sends => 50, min_jump => 3) WHERE suspicious`; the
-- view uses the defaults. Lower `min_sends` for a small application, raise it for one whose
-- prefixes send hundreds a day. The function only reads (PARALLEL SAFE): the per-day,
-- per-prefix sums of `clerk.sms_prefix_days`, which the writers keep from the ledger's
-- per-row facts (`clerk.sms_message_facts`, sql/views/05) in the transaction of each write,
-- keyed in the order of its window.

CREATE OR REPLACE FUNCTION clerk.sms_pumping(
    min_sends integer DEFAULT 20,
    min_jump numeric DEFAULT 5,
    min_drop numeric DEFAULT 0.3,
    max_new_conversion numeric DEFAULT 0.2
)
RETURNS TABLE (
    day                  date,
    region_code          text,
    number_prefix        text,
    sends                bigint,
    numbers_sent_to      bigint,
    numbers_verified     bigint,
    conversion           numeric,
    baseline_daily_sends numeric,
    baseline_conversion  numeric,
    jump                 numeric,
    suspicious           boolean,
    reason               text
)
LANGUAGE sql STABLE PARALLEL SAFE
-- It runs as its owner, with a fixed search path, as it did when it read the raw numbers.
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
WITH daily AS (
    SELECT d.day, d.region_code, d.number_prefix, d.sends,
           d.numbers_sent_to AS numbers, d.numbers_verified AS verified
    FROM clerk.sms_prefix_days AS d
), with_baseline AS (
    SELECT d.*,
           coalesce(sum(d.sends) OVER w, 0) AS base_sends,
           sum(d.numbers) OVER w AS base_numbers,
           sum(d.verified) OVER w AS base_verified
    FROM daily AS d
    WINDOW w AS (PARTITION BY d.region_code, d.number_prefix ORDER BY d.day
                 RANGE BETWEEN interval '28 days' PRECEDING AND interval '1 day' PRECEDING)
), judged AS (
    SELECT b.*,
           round(b.verified::numeric / NULLIF(b.numbers, 0), 4) AS conv,
           round(b.base_sends / 28.0, 4) AS base_daily,
           round(b.base_verified::numeric / NULLIF(b.base_numbers, 0), 4) AS base_conv,
           round(b.sends / greatest(b.base_sends / 28.0, 1), 2) AS ratio
    FROM with_baseline AS b
), flagged AS (
    SELECT j.*,
           coalesce(j.sends >= sms_pumping.min_sends
                    AND j.ratio >= sms_pumping.min_jump
                    AND CASE WHEN j.base_conv IS NULL
                             THEN j.conv <= sms_pumping.max_new_conversion
                             ELSE j.conv <= j.base_conv - sms_pumping.min_drop END,
                    false) AS flag
    FROM judged AS j
)
SELECT day, region_code, number_prefix, sends::bigint, numbers::bigint, verified::bigint,
       conv, base_daily,
       base_conv, ratio, flag,
       CASE WHEN NOT flag THEN NULL
            WHEN base_conv IS NULL
            THEN format('%s sends from a prefix with none in the 28 days before;'
                        ' conversion %s', sends, conv)
            ELSE format('%s sends, %s times the baseline of %s a day; conversion %s,'
                        ' down from %s', sends, ratio, base_daily, conv, base_conv)
       END
FROM flagged
ORDER BY day, region_code NULLS LAST, number_prefix NULLS LAST
$$;

-- It runs as its owner: only the reporting roles may call it, not PUBLIC's default.
REVOKE EXECUTE ON FUNCTION clerk.sms_pumping(integer, numeric, numeric, numeric) FROM PUBLIC;

CREATE OR REPLACE VIEW clerk.report_sms_pumping AS
SELECT * FROM clerk.sms_pumping();

GRANT EXECUTE ON FUNCTION clerk.sms_pumping(integer, numeric, numeric, numeric)
    TO clerk_reporting;
GRANT SELECT ON clerk.report_sms_pumping TO clerk_reporting;
COMMENT ON FUNCTION clerk.sms_pumping(integer, numeric, numeric, numeric) IS
    'report_sms_pumping with thresholds of your own (min_sends, min_jump, min_drop, max_new_conversion)';
COMMENT ON VIEW clerk.report_sms_pumping IS
    'Per day, region and number prefix, do the SMS sends jump above the prefix''s own baseline while conversion falls (SMS pumping)?';
