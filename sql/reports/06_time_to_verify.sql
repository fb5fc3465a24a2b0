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
-- phone, instead of two passes over the history. Percentiles are ordered-set aggregates,
-- which Postgres computes in one process; the groups are read in three parts (by the month
-- of the verification modulo 3, migration 0029) so that three processes share them.

CREATE OR REPLACE VIEW clerk.report_time_to_verify AS
-- the groups of one month in three, each part from its range of
-- phone_facts_verified_part_idx, in its order: one process each
SELECT *
FROM (
    SELECT verified_month AS month, first_verified_region_code AS region_code,
           count(*) AS verified,
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_verify)::numeric, 3)
               AS median_seconds,
           round(percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds_to_verify)::numeric, 3)
               AS p90_seconds
    FROM clerk.phone_facts
    WHERE verified_month IS NOT NULL
      AND extract(month FROM verified_month)::integer % 3 = 0
    GROUP BY verified_month, first_verified_region_code
    UNION ALL
    SELECT verified_month AS month, first_verified_region_code AS region_code,
           count(*) AS verified,
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_verify)::numeric, 3)
               AS median_seconds,
           round(percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds_to_verify)::numeric, 3)
               AS p90_seconds
    FROM clerk.phone_facts
    WHERE verified_month IS NOT NULL
      AND extract(month FROM verified_month)::integer % 3 = 1
    GROUP BY verified_month, first_verified_region_code
    UNION ALL
    SELECT verified_month AS month, first_verified_region_code AS region_code,
           count(*) AS verified,
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_verify)::numeric, 3)
               AS median_seconds,
           round(percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds_to_verify)::numeric, 3)
               AS p90_seconds
    FROM clerk.phone_facts
    WHERE verified_month IS NOT NULL
      AND extract(month FROM verified_month)::integer % 3 = 2
    GROUP BY verified_month, first_verified_region_code
) AS parts
ORDER BY month, region_code NULLS LAST;

GRANT SELECT ON clerk.report_time_to_verify TO clerk_reporting;
COMMENT ON VIEW clerk.report_time_to_verify IS
    'How long does a number take to get verified, per month (UTC) and region?';
