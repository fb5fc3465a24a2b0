-- clerk.report_phone_regions (view)
--
-- Question: Where are the live phone numbers, and how many of them are verified?
--
-- Columns:
--   region_code: ISO 3166-1 alpha-2, from the number; NULL when it names no region.
--   phone_numbers: live numbers in the region.
--   verified: those with verification_status 'verified'.
--   verified_share: of the region's numbers.
--
-- Empty mirror: no rows.
--
-- A live phone is one with `deleted_at IS NULL` (see `verification_status`).

CREATE OR REPLACE VIEW clerk.report_phone_regions AS
SELECT p.region_code,
       count(*) AS phone_numbers,
       count(*) FILTER (WHERE p.verification_status = 'verified') AS verified,
       round(count(*) FILTER (WHERE p.verification_status = 'verified')::numeric
             / NULLIF(count(*), 0), 4) AS verified_share
FROM clerk.phone_numbers AS p
WHERE p.deleted_at IS NULL
GROUP BY p.region_code
ORDER BY phone_numbers DESC, p.region_code NULLS LAST;

GRANT SELECT ON clerk.report_phone_regions TO clerk_reporting;
COMMENT ON VIEW clerk.report_phone_regions IS
    'Where are the live phone numbers, and how many of them are verified?';
