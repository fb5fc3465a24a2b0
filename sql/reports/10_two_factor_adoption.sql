-- clerk.report_two_factor_adoption (view)
--
-- Question: How did 2FA adoption (TOTP, backup codes, phone) move, per month (UTC)?
--
-- Columns:
--   month: the month (UTC, its first day, a date).
--   users: live users at month end.
--   two_factor_users, two_factor_turned_on, two_factor_turned_off: users with 2FA on at
--     month end (the last month: after its last change), and users who switched it on or
--     off that month.
--   two_factor_share: two_factor_users of users.
--   totp_users, totp_turned_on, totp_turned_off: the same for TOTP.
--   backup_codes_users, backup_codes_turned_on, backup_codes_turned_off: the same for
--     backup codes.
--   phone_users, phone_turned_on, phone_turned_off: the same for a live phone number
--     reserved_for_second_factor, from phone history.
--
-- Empty mirror: no rows.
--
-- One row per month from the first change to the last; months without changes carry the
-- counts forward. From `clerk.user_history` and `clerk.phone_number_history`, so deleted
-- users count while they lived. A user first seen with a factor already on (a backfill, or
-- a user created with it), or deleted with it on, changes the month-end count but is not
-- counted as switching. It reads the per-user changes from `clerk.user_factor_changes`,
-- which the writers keep by the definition in `clerk.user_factor_changes_of_history`.

CREATE OR REPLACE VIEW clerk.report_two_factor_adoption AS
WITH kinds AS (
    -- a user counts once per month and direction: the table holds that already. Each
    -- row's fourteen values are one integer, `kind` (migration 0029): the rows are counted
    -- per month and kind (user_factor_changes_kind_idx, in its order) and the counts of the
    -- month's few kinds summed by each digit and flag.
    SELECT month, kind, count(*) AS n
    FROM clerk.user_factor_changes
    GROUP BY month, kind
), monthly AS (
    SELECT month,
           sum(n * (kind % 3 - 1))::bigint AS live,
           sum(n * (kind / 3 % 3 - 1))::bigint AS two_factor,
           coalesce(sum(n) FILTER (WHERE (kind / 243 & 1) <> 0), 0)::bigint AS two_factor_on,
           coalesce(sum(n) FILTER (WHERE (kind / 243 & 2) <> 0), 0)::bigint AS two_factor_off,
           sum(n * (kind / 9 % 3 - 1))::bigint AS totp,
           coalesce(sum(n) FILTER (WHERE (kind / 243 & 4) <> 0), 0)::bigint AS totp_on,
           coalesce(sum(n) FILTER (WHERE (kind / 243 & 8) <> 0), 0)::bigint AS totp_off,
           sum(n * (kind / 27 % 3 - 1))::bigint AS backup_codes,
           coalesce(sum(n) FILTER (WHERE (kind / 243 & 16) <> 0), 0)::bigint AS backup_on,
           coalesce(sum(n) FILTER (WHERE (kind / 243 & 32) <> 0), 0)::bigint AS backup_off,
           sum(n * (kind / 81 % 3 - 1))::bigint AS phone,
           coalesce(sum(n) FILTER (WHERE (kind / 243 & 64) <> 0), 0)::bigint AS phone_on,
           coalesce(sum(n) FILTER (WHERE (kind / 243 & 128) <> 0), 0)::bigint AS phone_off
    FROM kinds
    GROUP BY month
), months AS (
    SELECT generate_series(min(month), max(month), interval '1 month')::date AS month
    FROM monthly
), running AS (
    SELECT m.month,
           sum(coalesce(c.live, 0)) OVER w AS users,
           sum(coalesce(c.two_factor, 0)) OVER w AS two_factor_users,
           coalesce(c.two_factor_on, 0) AS two_factor_turned_on,
           coalesce(c.two_factor_off, 0) AS two_factor_turned_off,
           sum(coalesce(c.totp, 0)) OVER w AS totp_users,
           coalesce(c.totp_on, 0) AS totp_turned_on,
           coalesce(c.totp_off, 0) AS totp_turned_off,
           sum(coalesce(c.backup_codes, 0)) OVER w AS backup_codes_users,
           coalesce(c.backup_on, 0) AS backup_codes_turned_on,
           coalesce(c.backup_off, 0) AS backup_codes_turned_off,
           sum(coalesce(c.phone, 0)) OVER w AS phone_users,
           coalesce(c.phone_on, 0) AS phone_turned_on,
           coalesce(c.phone_off, 0) AS phone_turned_off
    FROM months AS m LEFT JOIN monthly AS c USING (month)
    WINDOW w AS (ORDER BY m.month)
)
SELECT month, users::bigint,
       two_factor_users::bigint, two_factor_turned_on, two_factor_turned_off,
       round(two_factor_users / NULLIF(users, 0), 4) AS two_factor_share,
       totp_users::bigint, totp_turned_on, totp_turned_off,
       backup_codes_users::bigint, backup_codes_turned_on, backup_codes_turned_off,
       phone_users::bigint, phone_turned_on, phone_turned_off
FROM running
ORDER BY month;

GRANT SELECT ON clerk.report_two_factor_adoption TO clerk_reporting;
COMMENT ON VIEW clerk.report_two_factor_adoption IS
    'How did 2FA adoption (TOTP, backup codes, phone) move, per month (UTC)?';
