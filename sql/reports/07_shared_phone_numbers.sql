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
-- Only the numbers that more than one phone row carries are read: the phones' triggers keep
-- a count of rows per number (`clerk.phone_number_counts`, migration 0027 and
-- `sql/views/06_phone_number_counts.sql`), and a partial index holds the numbers counted
-- more than once, so no pass deduplicates every phone's number (as from 0025 to 0027). Their
-- phones are folded per number and holder, each holder met once (never a pass over every
-- holding for each shared number, as before 0025); a user is read only for a deleted phone,
-- to know when the user was deleted. JIT is off for it: at a million users its compile
-- cost more than it saved.

-- JIT off: with many shared numbers the plan's estimates (a pass over every phone) cross
-- the thresholds, and the compile cost more than the work it would speed up.
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
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS $$
WITH shared AS (
    -- Numbers with more than one phone row (a superset of those with several holders), as
    -- the phones' triggers count them: the partial index of migration 0027. Its statistics
    -- tell the planner how many there are: a few are probed on phone_numbers_number_idx,
    -- many are hashed against one pass over the phones.
    SELECT phone_number
    FROM clerk.phone_number_counts
    WHERE phones > 1
), holdings AS (
    -- A live phone's user is live (the worker deletes a user's phones with it; the model
    -- test checks it): only a deleted phone's user is read, for when that user was deleted.
    SELECT p.phone_number, p.phone_number_hash, p.phone_number_masked, p.region_code,
           p.user_id,
           coalesce(p.created_at, (SELECT min(h.effective_at)
                                   FROM clerk.phone_number_history AS h
                                   WHERE h.phone_number_id = p.id)) AS held_from,
           p.deleted_at IS NULL AND u.deleted_at IS NULL AS live,
           u.deleted_at AS user_deleted_at
    FROM clerk.phone_numbers AS p
    CROSS JOIN LATERAL (
        SELECT NULL::timestamptz AS deleted_at WHERE p.deleted_at IS NULL
        UNION ALL
        SELECT u.deleted_at FROM clerk.users AS u
        WHERE p.deleted_at IS NOT NULL AND u.id = p.user_id
    ) AS u
    WHERE p.phone_number IN (SELECT phone_number FROM shared)
), holders AS (
    -- One row per number and holder: first and last holding, live if any holding is.
    SELECT phone_number, user_id, max(phone_number_hash) AS phone_number_hash,
           max(phone_number_masked) AS phone_number_masked, max(region_code) AS region_code,
           min(held_from) AS first_held_from, max(held_from) AS last_held_from,
           bool_or(live) AS live, max(user_deleted_at) AS user_deleted_at
    FROM holdings
    GROUP BY phone_number, user_id
), deletions AS (
    -- The number's two earliest deletions of a holder: the earliest of the other holders'
    -- is the first, or the second when this holder's own is the first.
    SELECT *, nth_value(user_deleted_at, 1) OVER w AS first_deleted,
              nth_value(user_deleted_at, 2) OVER w AS second_deleted
    FROM holders
    WINDOW w AS (PARTITION BY phone_number ORDER BY user_deleted_at NULLS LAST
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
), numbers AS (
    SELECT phone_number,
           max(phone_number_hash) AS phone_number_hash,
           max(phone_number_masked) AS phone_number_masked,
           max(region_code) AS region_code,
           count(*) FILTER (WHERE live) AS live_users,
           count(*) FILTER (WHERE user_deleted_at IS NOT NULL) AS deleted_users,
           count(*) FILTER (WHERE last_held_from >= CASE WHEN user_deleted_at = first_deleted
                                                         THEN second_deleted
                                                         ELSE first_deleted END)
               AS reheld_users,
           array_agg(user_id ORDER BY first_held_from NULLS LAST, user_id) AS user_ids
    FROM deletions
    GROUP BY phone_number
)
SELECT phone_number_hash, phone_number_masked, region_code, live_users, deleted_users,
       reheld_users, user_ids
FROM numbers
WHERE live_users > 1 OR reheld_users > 0
ORDER BY live_users DESC, reheld_users DESC, phone_number_masked, user_ids
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
