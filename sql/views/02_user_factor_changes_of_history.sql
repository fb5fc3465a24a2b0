-- clerk.user_factor_changes_of_history (view)
--
-- Question: How did each user's 2FA factors change, per month (UTC)?
--
-- Columns:
--   user_id: the user.
--   month: the month (UTC, its first day).
--   live: the month's net change of the user's own existence (+1 first seen, -1 deleted).
--   two_factor: the month's net change of 2FA (+1 on, -1 off, 0 both or neither).
--   two_factor_on, two_factor_off: whether the user switched 2FA on, or off, that month (a
--     user first seen or deleted with it on changes the net count only).
--   totp, totp_on, totp_off: the same for TOTP.
--   backup_codes, backup_codes_on, backup_codes_off: the same for backup codes.
--   phone, phone_on, phone_off: the same for a live phone reserved_for_second_factor.
--
-- Empty mirror: no rows; a user and month without a change has no row either.
--
-- The one definition of the table `clerk.user_factor_changes`, which
-- `report_two_factor_adoption` reads instead of windows over both histories. The writers
-- refresh the rows of exactly the users whose history a transaction wrote, filtered on
-- `user_id`: every window partitions by `user_id` (a phone belongs to one user), so the
-- filter reaches the histories' user indexes. It reads the histories alone: a phone never
-- reserved for 2FA adds 0 to every phone delta, so its rows change nothing. (A filter to
-- the phones `clerk.phone_facts` says were ever reserved read all of those for each user
-- refreshed, where the statistics were taken on a smaller mirror: half of a drain's
-- Postgres CPU at 10,000 users. docs/benchmarks.md.)

CREATE OR REPLACE VIEW clerk.user_factor_changes_of_history AS
WITH user_rows AS (
    SELECT user_id, svix_id, effective_at, event_at, change,
           (change <> 'deleted')::int AS live,
           (change <> 'deleted' AND two_factor_enabled IS TRUE)::int AS two_factor,
           (change <> 'deleted' AND totp_enabled IS TRUE)::int AS totp,
           (change <> 'deleted' AND backup_code_enabled IS TRUE)::int AS backup_codes
    FROM clerk.user_history
), user_flips AS (
    -- +1 where a flag went on, -1 where it went off, against the user's previous row
    SELECT user_id, svix_id, effective_at, change IN ('created', 'deleted') AS lifecycle,
           live - coalesce(lag(live) OVER w, 0) AS live,
           two_factor - coalesce(lag(two_factor) OVER w, 0) AS two_factor,
           totp - coalesce(lag(totp) OVER w, 0) AS totp,
           backup_codes - coalesce(lag(backup_codes) OVER w, 0) AS backup_codes
    FROM user_rows
    WINDOW w AS (PARTITION BY user_id ORDER BY effective_at, event_at, svix_id COLLATE "C")
), phone_rows AS (
    -- a phone never reserved is 0 on every row, and so adds 0 to every delta below
    SELECT user_id, phone_number_id, svix_id, effective_at, event_at,
           (reserved_for_second_factor AND change <> 'deleted')::int AS reserved
    FROM clerk.phone_number_history
), phone_deltas AS (
    SELECT user_id, svix_id, effective_at, event_at,
           sum(reserved - coalesce(lag_reserved, 0)) AS delta
    FROM (SELECT *, lag(reserved) OVER (PARTITION BY user_id, phone_number_id
                                        ORDER BY effective_at, event_at, svix_id COLLATE "C")
                        AS lag_reserved
          FROM phone_rows) AS p
    GROUP BY user_id, svix_id, effective_at, event_at
    HAVING sum(reserved - coalesce(lag_reserved, 0)) <> 0
), phone_on AS (
    -- the user holds a phone second factor while its count of reserved live phones > 0
    SELECT user_id, svix_id, effective_at, event_at,
           (sum(delta) OVER w > 0)::int AS phone
    FROM phone_deltas
    WINDOW w AS (PARTITION BY user_id ORDER BY effective_at, event_at, svix_id COLLATE "C")
), phone_flips AS (
    SELECT user_id, svix_id, effective_at,
           phone - coalesce(lag(phone) OVER (PARTITION BY user_id
                                             ORDER BY effective_at, event_at,
                                                      svix_id COLLATE "C"), 0) AS phone
    FROM phone_on
), flips AS (
    -- only the rows that change a count
    SELECT user_id, effective_at, lifecycle, live, two_factor, totp, backup_codes, 0 AS phone
    FROM user_flips
    WHERE live <> 0 OR two_factor <> 0 OR totp <> 0 OR backup_codes <> 0
    UNION ALL
    -- whether the phone's flip came with the user's creation or deletion: a join, which a
    -- refresh of a few users probes by their ids and a full read hashes (an EXISTS in the
    -- select list was a hashed subplan of every created and deleted row of the mirror, for
    -- each refresh of a few users). (user_id, svix_id) is unique: at most one row joins.
    SELECT f.user_id, f.effective_at, l.user_id IS NOT NULL, 0, 0, 0, 0, f.phone
    FROM phone_flips AS f
    LEFT JOIN clerk.user_history AS l
      ON l.user_id = f.user_id AND l.svix_id = f.svix_id AND l.change IN ('created', 'deleted')
    WHERE f.phone <> 0
)
SELECT user_id, date_trunc('month', effective_at AT TIME ZONE 'UTC')::date AS month,
       sum(live)::integer AS live,
       sum(two_factor)::integer AS two_factor,
       bool_or(two_factor > 0 AND NOT lifecycle) AS two_factor_on,
       bool_or(two_factor < 0 AND NOT lifecycle) AS two_factor_off,
       sum(totp)::integer AS totp,
       bool_or(totp > 0 AND NOT lifecycle) AS totp_on,
       bool_or(totp < 0 AND NOT lifecycle) AS totp_off,
       sum(backup_codes)::integer AS backup_codes,
       bool_or(backup_codes > 0 AND NOT lifecycle) AS backup_codes_on,
       bool_or(backup_codes < 0 AND NOT lifecycle) AS backup_codes_off,
       sum(phone)::integer AS phone,
       bool_or(phone > 0 AND NOT lifecycle) AS phone_on,
       bool_or(phone < 0 AND NOT lifecycle) AS phone_off
FROM flips
GROUP BY user_id, month;

GRANT SELECT ON clerk.user_factor_changes_of_history TO clerk_reporting;
COMMENT ON VIEW clerk.user_factor_changes_of_history IS
    'How did each user''s 2FA factors change, per month (UTC)?';
