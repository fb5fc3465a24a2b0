"""What the writers' triggers keep of the numbers (clerk.phone_number_counts, of
sql/views/06_phone_number_counts.sql, and clerk.phone_number_sharing, of
sql/views/07_phone_number_sharing.sql) against a recomputation, and the shared-numbers
report as it was computed before they kept either."""

from __future__ import annotations

from typing import Final, LiteralString

# Kept counts that differ from a recount of the phones (kept: -, recounted: +).
STALE_NUMBER_COUNTS: Final[LiteralString] = """
(SELECT '-', phone_number, phones FROM clerk.phone_number_counts
 EXCEPT ALL SELECT '-', * FROM clerk.phone_number_counts_of_phones)
UNION ALL
(SELECT '+', * FROM clerk.phone_number_counts_of_phones
 EXCEPT ALL SELECT '+', phone_number, phones FROM clerk.phone_number_counts)
"""

# Kept rows of the shared numbers (clerk.phone_number_sharing, of
# sql/views/07_phone_number_sharing.sql) that differ from a recomputation (kept: -,
# recomputed: +).
STALE_SHARING: Final[LiteralString] = """
(SELECT '-', * FROM clerk.phone_number_sharing
 EXCEPT ALL SELECT '-', * FROM clerk.phone_number_sharing_of_phones)
UNION ALL
(SELECT '+', * FROM clerk.phone_number_sharing_of_phones
 EXCEPT ALL SELECT '+', * FROM clerk.phone_number_sharing)
"""

# report_shared_phone_numbers as it was before 0027: the shared numbers found by grouping
# every phone by number, and every holder's user read.
ORIGINAL_SHARED_NUMBERS: Final[LiteralString] = """
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
ORDER BY live_users DESC, reheld_users DESC, phone_number_masked, user_ids
"""
