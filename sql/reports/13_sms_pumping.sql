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
-- prefixes send hundreds a day. The function only reads (PARALLEL SAFE) `clerk.sms_prefix_days`:
-- the per-day, per-prefix sums, and beside each day the same sums over the prefix's 28 days
-- before it (`base_sends`, `base_numbers`, `base_verified`), which the writers keep from the
-- ledger's per-row facts (`clerk.sms_message_facts`, sql/views/05) in the transaction of each
-- write: a day's change moves the baselines of the 28 days after it. It reads them from
-- `sms_prefix_days_report_idx` alone, in its output order: the index carries every column
-- shown (0030), so no row is fetched from the table, whose rows lie in the order they were
-- written. With them come the rounded ratios the table stores (conversion,
-- baseline_daily_sends, baseline_conversion, jump: generated columns, computed once as a row
-- is written), so it runs no window, no sort and no division: only the threshold
-- comparisons of each row.

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
-- It runs as its caller (it reads only clerk.sms_prefix_days, which clerk_reporting reads),
-- so the planner inlines it into the view's query: the rows stream out of the index instead
-- of being collected first.
AS $$
WITH flagged AS (
    SELECT d.*,
           coalesce(d.sends >= sms_pumping.min_sends
                    AND d.jump >= sms_pumping.min_jump
                    AND CASE WHEN d.baseline_conversion IS NULL
                             THEN d.conversion <= sms_pumping.max_new_conversion
                             ELSE d.conversion <= d.baseline_conversion - sms_pumping.min_drop
                        END,
                    false) AS flag
    FROM clerk.sms_prefix_days AS d
)
SELECT day, region_code, number_prefix, sends::bigint, numbers_sent_to::bigint,
       numbers_verified::bigint, conversion, baseline_daily_sends, baseline_conversion, jump,
       flag,
       CASE WHEN NOT flag THEN NULL
            WHEN baseline_conversion IS NULL
            THEN format('%s sends from a prefix with none in the 28 days before;'
                        ' conversion %s', sends, conversion)
            ELSE format('%s sends, %s times the baseline of %s a day; conversion %s,'
                        ' down from %s', sends, jump, baseline_daily_sends, conversion,
                        baseline_conversion)
       END
-- sms_prefix_days_report_idx: read in this order, from the index alone, no sort
FROM flagged
ORDER BY day, region_code NULLS LAST, number_prefix NULLS LAST
$$;

-- Only the reporting roles call it, not PUBLIC's default.
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
