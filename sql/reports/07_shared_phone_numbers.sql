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
-- no longer linked to them.

CREATE OR REPLACE VIEW clerk.report_shared_phone_numbers AS
WITH holdings AS (
    SELECT p.phone_number, p.phone_number_hash, p.phone_number_masked, p.region_code,
           p.user_id,
           coalesce(p.created_at, (SELECT min(h.effective_at)
                                   FROM clerk.phone_number_history AS h
                                   WHERE h.phone_number_id = p.id)) AS held_from,
           p.deleted_at IS NULL AND u.deleted_at IS NULL AS live,
           u.deleted_at AS user_deleted_at
    FROM clerk.phone_numbers AS p
    JOIN clerk.users AS u ON u.id = p.user_id
    WHERE p.phone_number IS NOT NULL
), reheld AS (
    SELECT DISTINCT b.phone_number, b.user_id
    FROM holdings AS a
    JOIN holdings AS b ON b.phone_number = a.phone_number AND b.user_id <> a.user_id
    WHERE a.user_deleted_at IS NOT NULL AND b.held_from >= a.user_deleted_at
), numbers AS (
    SELECT h.phone_number,
           max(h.phone_number_hash) AS phone_number_hash,
           max(h.phone_number_masked) AS phone_number_masked,
           max(h.region_code) AS region_code,
           count(DISTINCT h.user_id) FILTER (WHERE h.live) AS live_users,
           count(DISTINCT h.user_id) FILTER (WHERE h.user_deleted_at IS NOT NULL)
               AS deleted_users,
           (SELECT count(*) FROM reheld AS r WHERE r.phone_number = h.phone_number)
               AS reheld_users
    FROM holdings AS h
    GROUP BY h.phone_number
    HAVING count(DISTINCT h.user_id) > 1
)
SELECT phone_number_hash, phone_number_masked, region_code, live_users, deleted_users,
       reheld_users,
       ARRAY(SELECT x.user_id
             FROM holdings AS x
             WHERE x.phone_number = n.phone_number
             GROUP BY x.user_id
             ORDER BY min(x.held_from) NULLS LAST, x.user_id) AS user_ids
FROM numbers AS n
WHERE live_users > 1 OR reheld_users > 0
ORDER BY live_users DESC, reheld_users DESC, phone_number_masked, user_ids;

GRANT SELECT ON clerk.report_shared_phone_numbers TO clerk_reporting;
COMMENT ON VIEW clerk.report_shared_phone_numbers IS
    'Which numbers do several live users hold, or did a new user take after a deletion?';
