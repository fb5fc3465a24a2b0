-- clerk.report_sms_verification_by_region_day (view), over
-- clerk.sms_verification_by_region_day(min_added, min_rise, min_z) (function)
--
-- Question: Per region and day, how many numbers were added and verified; is it SMS pumping?
--
-- Columns:
--   day: the day (UTC) of the numbers' first history row.
--   region_code: their region; NULL when the number names none.
--   added: numbers added that day in that region.
--   verified: of those, numbers that ever reached verified.
--   failed: numbers that reached failed, never verified.
--   expired: numbers that reached expired, neither verified nor failed.
--   verification_rate: verified / added.
--   unverified_share: 1 - verification_rate.
--   baseline_added, baseline_unverified_share: the same region over the 28 days before this
--     one; 0 and NULL when it added nothing then.
--   suspicious: whether the day looks like SMS pumping (below).
--
-- Empty mirror: no rows.
--
-- SMS pumping (toll fraud) is bots adding numbers, often in one country's premium ranges,
-- whose codes are never entered: the Clerk customer pays for every code sent. Its
-- signature is a region whose share of unverified numbers jumps far above its own recent
-- past. From history (through `clerk.phone_facts`), so numbers since deleted count too.
--
-- A day is suspicious when all of these hold:
--
-- 1. it added at least `min_added` numbers (default 20), and so did its baseline: a
--    handful of numbers proves nothing either way;
-- 2. its `unverified_share` is at least `min_rise` (default 0.25, 25 points) above
--    `baseline_unverified_share`;
-- 3. that rise is at least `min_z` (default 4) standard errors:
--    `(share - p) / sqrt(p (1 - p) / added)`, where `p` is the baseline share kept within
--    [0.01, 0.99] so that a spotless or a hopeless baseline still has a spread. The rise
--    alone would flag a small region's noise; the standard errors alone, a big region's
--    harmless drift of a point or two.
--
-- A region with no baseline (new, or quiet for 28 days) is never suspicious. The view uses
-- the defaults; call the function with other thresholds to tune them. The function is
-- PARALLEL SAFE (it only reads): an unsafe function anywhere in a query keeps the whole
-- query in one process, though this one is inlined.

CREATE OR REPLACE FUNCTION clerk.sms_verification_by_region_day(
    min_added integer DEFAULT 20, min_rise numeric DEFAULT 0.25, min_z numeric DEFAULT 4
)
RETURNS TABLE (
    day                       date,
    region_code               text,
    added                     bigint,
    verified                  bigint,
    failed                    bigint,
    expired                   bigint,
    verification_rate         numeric,
    unverified_share          numeric,
    baseline_added            bigint,
    baseline_unverified_share numeric,
    suspicious                boolean
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
WITH outcomes AS (
    -- one count per row, in the window's (and phone_facts_added_idx's) order
    SELECT region_code, added_day, outcome, count(*) AS phones
    FROM clerk.phone_facts
    GROUP BY region_code, added_day, outcome
), daily AS (
    SELECT added_day AS day, region_code,
           sum(phones)::bigint AS added,
           coalesce(sum(phones) FILTER (WHERE outcome = 'verified'), 0)::bigint AS verified,
           coalesce(sum(phones) FILTER (WHERE outcome = 'failed'), 0)::bigint AS failed,
           coalesce(sum(phones) FILTER (WHERE outcome = 'expired'), 0)::bigint AS expired
    FROM outcomes
    GROUP BY region_code, added_day
), with_baseline AS (
    SELECT d.*,
           sum(added) OVER w AS baseline_added,
           sum(added - verified) OVER w AS baseline_unverified
    FROM daily AS d
    WINDOW w AS (PARTITION BY region_code ORDER BY day
                 RANGE BETWEEN interval '28 days' PRECEDING AND interval '1 day' PRECEDING)
), shares AS (
    SELECT b.*,
           (added - verified)::numeric / added AS share,
           baseline_unverified::numeric / NULLIF(baseline_added, 0) AS base,
           least(greatest(baseline_unverified::numeric / NULLIF(baseline_added, 0), 0.01), 0.99)
               AS p
    FROM with_baseline AS b
)
SELECT day, region_code, added, verified, failed, expired,
       round(verified::numeric / added, 4),
       round(share, 4),
       coalesce(baseline_added, 0)::bigint,
       round(base, 4),
       coalesce(added >= sms_verification_by_region_day.min_added
                AND baseline_added >= sms_verification_by_region_day.min_added
                AND share - base >= sms_verification_by_region_day.min_rise
                AND (share - p) / sqrt(p * (1 - p) / added) >= sms_verification_by_region_day.min_z,
                false)
FROM shares
ORDER BY day, region_code NULLS LAST
$$;

CREATE OR REPLACE VIEW clerk.report_sms_verification_by_region_day AS
SELECT * FROM clerk.sms_verification_by_region_day();

GRANT EXECUTE ON FUNCTION clerk.sms_verification_by_region_day(integer, numeric, numeric)
    TO clerk_reporting;
GRANT SELECT ON clerk.report_sms_verification_by_region_day TO clerk_reporting;
COMMENT ON FUNCTION clerk.sms_verification_by_region_day(integer, numeric, numeric) IS
    'report_sms_verification_by_region_day with thresholds of your own (min_added, min_rise, min_z)';
COMMENT ON VIEW clerk.report_sms_verification_by_region_day IS
    'Per region and day, how many numbers were added and verified; is it SMS pumping?';
