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
-- and ends when the phone or its user is deleted. The view groups by the number itself (it
-- runs with its owner's rights), so rows written before the key was set count too. Erased
-- users hold no number and never count, so a number reused after its holder's erasure is
-- no longer linked to them. Only numbers with several holders are read (found on the index
-- of migration 0025), folded per number and holder, each holder met once: never a pass over
-- every holding for each shared number, as before 0025.

CREATE OR REPLACE VIEW clerk.report_shared_phone_numbers AS
WITH shared AS (
    -- Numbers with more than one phone row (a superset of those with several holders):
    -- one pass over phone_numbers_number_idx, in its order, no sort.
    SELECT phone_number
    FROM clerk.phone_numbers
    WHERE phone_number IS NOT NULL
    GROUP BY phone_number
    HAVING count(*) > 1
), holdings AS (
    SELECT h.*
    FROM shared AS s
    -- OFFSET 0: each shared number's few phones through the same index, never a join of
    -- every phone (the planner cannot know how few numbers are shared).
    CROSS JOIN LATERAL (
        SELECT p.phone_number, p.phone_number_hash, p.phone_number_masked, p.region_code,
               p.user_id,
               coalesce(p.created_at, (SELECT min(h.effective_at)
                                       FROM clerk.phone_number_history AS h
                                       WHERE h.phone_number_id = p.id)) AS held_from,
               p.deleted_at IS NULL AND u.deleted_at IS NULL AS live,
               u.deleted_at AS user_deleted_at
        FROM clerk.phone_numbers AS p
        JOIN clerk.users AS u ON u.id = p.user_id
        WHERE p.phone_number = s.phone_number
        OFFSET 0
    ) AS h
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
ORDER BY live_users DESC, reheld_users DESC, phone_number_masked, user_ids;

GRANT SELECT ON clerk.report_shared_phone_numbers TO clerk_reporting;
COMMENT ON VIEW clerk.report_shared_phone_numbers IS
    'Which numbers do several live users hold, or did a new user take after a deletion?';
