-- clerk.report_shared_phone_numbers (view)
--
-- Question: Which numbers do several live users hold, or did a new user take after a deletion?
--
-- Columns:
--   phone_number_hash: the number's keyed hash; NULL when its rows were written without
--     CLERK_MIRROR_PII_KEY.
--   phone_number_masked: the number, masked (+44 ••••••••23).
--   region_code: its region.
--   live_users: live users holding it now.
--   deleted_users: deleted users who held it.
--   reheld_users: users who got it at or after another holder's deletion.
--   user_ids: every holder, earliest first.
--
-- Empty mirror: no rows.
--
-- One row per number (a recycled number, or one account too many), never the number
-- itself. A holding starts at the phone's `created_at` (else when the mirror first saw it)
-- and ends when the phone or its user is deleted. The report groups by the number itself
-- (its function runs with its owner's rights), so rows written before the key was set count
-- too. Erased users hold no number and never count, so a number reused after its holder's
-- erasure is no longer linked to them.
--
-- The rows are kept, not computed at each call: `clerk.phone_number_sharing` (migration 0028)
-- holds one per number the report shows, refreshed by the triggers of the phones, the users
-- and the phone history in the same transaction as every write that can change one (their
-- definition, `clerk.phone_number_sharing_of_phones`, and the triggers are in
-- `sql/views/07_phone_number_sharing.sql`). The report reads them through an index in its
-- order (an incremental sort breaks the few ties the index leaves). Before 0028 it found the
-- numbers more than one phone carries (`clerk.phone_number_counts`, 0027), read their
-- phones in one pass and folded every holding at each call. Its function runs with its
-- owner's rights: the table is keyed by the raw number.

CREATE OR REPLACE FUNCTION clerk.shared_phone_numbers()
RETURNS TABLE (
    phone_number_hash   text,
    phone_number_masked text,
    region_code         text,
    live_users          bigint,
    deleted_users       bigint,
    reheld_users        bigint,
    user_ids            text[]
)
LANGUAGE sql STABLE
-- No sequential scan: the planner prices the index's reads of a heap in another order
-- above a scan and a sort of every row by the mask and the arrays, which took five times
-- as long at a million users (docs/benchmarks.md).
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET enable_seqscan = off
AS $$
SELECT phone_number_hash, phone_number_masked, region_code, live_users, deleted_users,
       reheld_users, user_ids
FROM clerk.phone_number_sharing
-- user_ids[1] first: the same order (an array compares by its first element first; it is
-- never empty), and the index's.
ORDER BY live_users DESC, reheld_users DESC, phone_number_masked, user_ids[1], user_ids
$$;

REVOKE EXECUTE ON FUNCTION clerk.shared_phone_numbers() FROM PUBLIC;

CREATE OR REPLACE VIEW clerk.report_shared_phone_numbers AS
SELECT * FROM clerk.shared_phone_numbers();

GRANT EXECUTE ON FUNCTION clerk.shared_phone_numbers() TO clerk_reporting;
GRANT SELECT ON clerk.report_shared_phone_numbers TO clerk_reporting;
COMMENT ON FUNCTION clerk.shared_phone_numbers() IS
    'report_shared_phone_numbers, as a function that runs as its owner (it reads the raw numbers)';
COMMENT ON VIEW clerk.report_shared_phone_numbers IS
    'Which numbers do several live users hold, or did a new user take after a deletion?';
