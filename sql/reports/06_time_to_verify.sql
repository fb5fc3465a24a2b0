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

-- The groups of one month in three (month modulo 3), read from that part's range of
-- phone_facts_verified_part_idx in its order. Inlined into the view: the part is a constant
-- there, so each call is its own index range, and Postgres runs the three in parallel.
CREATE OR REPLACE FUNCTION clerk.time_to_verify_of_part(part integer)
RETURNS TABLE (
    month          date,
    region_code    text,
    verified       bigint,
    median_seconds numeric,
    p90_seconds    numeric
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT verified_month, first_verified_region_code, count(*),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_verify)::numeric, 3),
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds_to_verify)::numeric, 3)
FROM clerk.phone_facts
WHERE verified_month IS NOT NULL
  AND extract(month FROM verified_month)::integer % 3 = time_to_verify_of_part.part
GROUP BY verified_month, first_verified_region_code
$$;

REVOKE EXECUTE ON FUNCTION clerk.time_to_verify_of_part(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION clerk.time_to_verify_of_part(integer) TO clerk_reporting;

CREATE OR REPLACE VIEW clerk.report_time_to_verify AS
SELECT *
FROM (SELECT * FROM clerk.time_to_verify_of_part(0)
      UNION ALL
      SELECT * FROM clerk.time_to_verify_of_part(1)
      UNION ALL
      SELECT * FROM clerk.time_to_verify_of_part(2)) AS parts
ORDER BY month, region_code NULLS LAST;

GRANT SELECT ON clerk.report_time_to_verify TO clerk_reporting;
COMMENT ON VIEW clerk.report_time_to_verify IS
    'How long does a number take to get verified, per month (UTC) and region?';
