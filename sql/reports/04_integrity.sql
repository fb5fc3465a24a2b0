-- clerk.report_integrity (view)
--
-- Question: Where does the live mirror contradict itself or Clerk's 2FA rules?
--
-- Columns:
--   kind: what is wrong, one of the kinds below.
--   user_id: the user.
--   phone_number_id: the phone; NULL when the anomaly is the user's.
--   detail: names ids and flags, never a phone number (analysts may not see those).
--
-- Empty mirror: no rows, as on a healthy one.
--
-- One row per anomaly. The kinds:
--
-- - `several_default_second_factors`: a user has more than one live phone marked
--   `default_second_factor` (one row per user; `detail` lists the phone ids).
-- - `default_not_reserved`: a `default_second_factor` phone that is not
--   `reserved_for_second_factor`.
-- - `reserved_not_verified`: a phone `reserved_for_second_factor` whose
--   `verification_status` is not `verified`.
-- - `two_factor_without_factor`: `two_factor_enabled` with no phone reserved for 2FA, no
--   TOTP and no backup codes that the mirror can see.
-- - `primary_phone_missing`: `primary_phone_number_id` names a phone the mirror does not
--   hold alive for that user (`detail`: not in the mirror, another user's, or deleted at
--   when). It reads `clerk.users.primary_phone_problem`, which the writers keep by the
--   definition in `clerk.users_primary_phone_problem`.
--
-- The first four kinds read only the phones that are a second factor, through
-- `phone_numbers_second_factor_idx`; a live phone is one with `deleted_at IS NULL`.

CREATE OR REPLACE VIEW clerk.report_integrity AS
SELECT 'several_default_second_factors' AS kind, p.user_id, NULL::text AS phone_number_id,
       count(*) || ' phone numbers are default_second_factor: '
           || string_agg(p.id, ', ' ORDER BY p.id) AS detail
FROM clerk.phone_numbers AS p
WHERE p.deleted_at IS NULL AND p.default_second_factor
  -- the users with several, counted first: the ordered string_agg sorted for every user
  AND p.user_id IN (SELECT d.user_id FROM clerk.phone_numbers AS d
                    WHERE d.deleted_at IS NULL AND d.default_second_factor
                    GROUP BY d.user_id HAVING count(*) > 1)
GROUP BY p.user_id
UNION ALL
SELECT 'default_not_reserved', p.user_id, p.id,
       'default_second_factor but not reserved_for_second_factor'
FROM clerk.phone_numbers AS p
WHERE p.deleted_at IS NULL AND p.default_second_factor AND NOT p.reserved_for_second_factor
UNION ALL
SELECT 'reserved_not_verified', p.user_id, p.id,
       'reserved_for_second_factor but verification_status is '
           || coalesce(p.verification_status, 'null')
FROM clerk.phone_numbers AS p
WHERE p.deleted_at IS NULL AND p.reserved_for_second_factor
  AND p.verification_status IS DISTINCT FROM 'verified'
UNION ALL
SELECT 'two_factor_without_factor', u.id, NULL,
       'two_factor_enabled with no phone reserved_for_second_factor, no TOTP, no backup codes'
FROM clerk.users AS u
WHERE u.deleted_at IS NULL AND u.two_factor_enabled
  AND u.totp_enabled IS NOT TRUE AND u.backup_code_enabled IS NOT TRUE
  AND NOT EXISTS (SELECT FROM clerk.phone_numbers AS p
                  WHERE p.user_id = u.id AND p.deleted_at IS NULL AND p.reserved_for_second_factor)
UNION ALL
SELECT 'primary_phone_missing', u.id, u.primary_phone_number_id, u.primary_phone_problem
FROM clerk.users AS u
WHERE u.primary_phone_problem IS NOT NULL AND u.deleted_at IS NULL
ORDER BY kind, user_id, phone_number_id NULLS FIRST;

GRANT SELECT ON clerk.report_integrity TO clerk_reporting;
COMMENT ON VIEW clerk.report_integrity IS
    'Where does the live mirror contradict itself or Clerk''s 2FA rules?';
