-- clerk.report_two_factor (view)
--
-- Question: How many live users have 2FA on, and what second factors do they hold?
--
-- Columns:
--   users: live users.
--   two_factor_users: those with two_factor_enabled.
--   two_factor_share: of users.
--   with_reserved_phone, with_reserved_phone_share: 2FA users with a live phone
--     reserved_for_second_factor, and their share of two_factor_users.
--   with_default_phone, with_default_phone_share: 2FA users with a live phone that is
--     default_second_factor, and their share.
--   with_totp, with_totp_share: 2FA users with TOTP, and their share.
--   with_backup_codes, with_backup_codes_share: 2FA users with backup codes, and their share.
--
-- Empty mirror: one row, zeros and NULL shares.
--
-- The user counts need only `clerk.users`; the phone counts only the second-factor phones
-- (a small part of all phones) joined to their 2FA users: grouping every live phone per
-- user and joining that to every user spilled to disk (docs/benchmarks.md, Reports).

CREATE OR REPLACE VIEW clerk.report_two_factor AS
WITH user_counts AS (
    SELECT count(*) AS users,
           count(*) FILTER (WHERE two_factor_enabled) AS two_factor_users,
           count(*) FILTER (WHERE two_factor_enabled AND totp_enabled) AS with_totp,
           count(*) FILTER (WHERE two_factor_enabled AND backup_code_enabled) AS with_backup_codes
    FROM clerk.users
    WHERE deleted_at IS NULL
), phone_counts AS (
    SELECT count(DISTINCT p.user_id) FILTER (WHERE p.reserved_for_second_factor)
               AS with_reserved_phone,
           count(DISTINCT p.user_id) FILTER (WHERE p.default_second_factor) AS with_default_phone
    FROM clerk.phone_numbers AS p
    JOIN clerk.users AS u ON u.id = p.user_id
    WHERE p.deleted_at IS NULL AND (p.reserved_for_second_factor OR p.default_second_factor)
      AND u.two_factor_enabled AND u.deleted_at IS NULL
), counts AS (
    SELECT * FROM user_counts, phone_counts
)
SELECT users,
       two_factor_users,
       round(two_factor_users::numeric / NULLIF(users, 0), 4) AS two_factor_share,
       with_reserved_phone,
       round(with_reserved_phone::numeric / NULLIF(two_factor_users, 0), 4)
           AS with_reserved_phone_share,
       with_default_phone,
       round(with_default_phone::numeric / NULLIF(two_factor_users, 0), 4)
           AS with_default_phone_share,
       with_totp,
       round(with_totp::numeric / NULLIF(two_factor_users, 0), 4) AS with_totp_share,
       with_backup_codes,
       round(with_backup_codes::numeric / NULLIF(two_factor_users, 0), 4)
           AS with_backup_codes_share
FROM counts;

GRANT SELECT ON clerk.report_two_factor TO clerk_reporting;
COMMENT ON VIEW clerk.report_two_factor IS
    'How many live users have 2FA on, and what second factors do they hold?';
