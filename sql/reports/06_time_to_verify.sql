-- clerk.report_time_to_verify (view)
--
-- Question: How long does a number take to get verified, per month (UTC) and region?
--
-- Columns:
--   month: the month of the verification (UTC, its first day, a date).
--   region_code: the region of the verification.
--   verified: numbers first verified that month in that region.
--   median_seconds, p90_seconds: continuous percentiles of first seen -> verified.
--
-- Empty mirror: no rows.
--
-- From history, so numbers since deleted count too. A number is first seen at its first
-- history row and verified at its first (non-deletion) row with `verification_status =
-- 'verified'`, both by `effective_at` (when it was true in Clerk, not when the mirror
-- learned it; so delivery order does not change the answer). A number verified in its
-- first snapshot counts 0 seconds (as does any number the mirror first saw already
-- verified, e.g. by backfill). It reads those facts from `clerk.phone_facts`, one row per
-- phone, instead of two passes over the history.

CREATE OR REPLACE VIEW clerk.report_time_to_verify AS
WITH durations AS (
    SELECT verified_month AS month, first_verified_region_code AS region_code,
           seconds_to_verify AS seconds
    FROM clerk.phone_facts
    WHERE verified_month IS NOT NULL
)
SELECT month,
       region_code,
       count(*) AS verified,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)::numeric, 3)
           AS median_seconds,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds)::numeric, 3) AS p90_seconds
FROM durations
GROUP BY month, region_code
ORDER BY month, region_code NULLS LAST;

GRANT SELECT ON clerk.report_time_to_verify TO clerk_reporting;
COMMENT ON VIEW clerk.report_time_to_verify IS
    'How long does a number take to get verified, per month (UTC) and region?';
