-- Why: the questions analysts and operators ask of the mirror should be one query away
-- and answered the same way by everyone: what share of numbers is verified, who relies
-- on a phone for 2FA, where the data contradicts itself, whether sync keeps up, how long
-- verification takes, and what the mirror held at a past moment. Views and one function,
-- no tables: dropping them later loses nothing.
--
-- "Live" below means a phone number with deleted_at IS NULL whose user is not deleted.
-- Shares are numeric rounded to 4 places, NULL where the denominator is zero. Durations
-- are numeric seconds, so that BI tools and JSON read them without parsing intervals.

-- Q: How many live phone numbers are in each verification status and strategy?
-- Columns: verification_status (NULL: Clerk sent no verification), verification_strategy,
--          phone_numbers, share (of all live phone numbers).
-- An empty mirror gives no rows.
CREATE VIEW clerk.report_verification_status AS
SELECT p.verification_status,
       p.verification_strategy,
       count(*) AS phone_numbers,
       round(count(*) / NULLIF(sum(count(*)) OVER (), 0), 4) AS share
FROM clerk.phone_numbers AS p
JOIN clerk.users AS u ON u.id = p.user_id
WHERE p.deleted_at IS NULL AND u.deleted_at IS NULL
GROUP BY p.verification_status, p.verification_strategy
ORDER BY phone_numbers DESC, p.verification_status NULLS LAST, p.verification_strategy NULLS LAST;

-- Q: How many live users have 2FA on, and what second factors do they hold?
-- Columns: users, two_factor_users, two_factor_share (of users); then, among the
--          two_factor_users, each count with its share of two_factor_users:
--          with_reserved_phone (a live phone reserved_for_second_factor),
--          with_default_phone (a live phone that is default_second_factor),
--          with_totp, with_backup_codes.
-- Always one row: zeros and NULL shares on an empty mirror.
CREATE VIEW clerk.report_two_factor AS
WITH phones AS (
    SELECT user_id,
           bool_or(reserved_for_second_factor) AS reserved,
           bool_or(default_second_factor) AS is_default
    FROM clerk.phone_numbers
    WHERE deleted_at IS NULL
    GROUP BY user_id
), counts AS (
    SELECT count(*) AS users,
           count(*) FILTER (WHERE u.two_factor_enabled) AS two_factor_users,
           count(*) FILTER (WHERE u.two_factor_enabled AND p.reserved) AS with_reserved_phone,
           count(*) FILTER (WHERE u.two_factor_enabled AND p.is_default) AS with_default_phone,
           count(*) FILTER (WHERE u.two_factor_enabled AND u.totp_enabled) AS with_totp,
           count(*) FILTER (WHERE u.two_factor_enabled AND u.backup_code_enabled)
               AS with_backup_codes
    FROM clerk.users AS u
    LEFT JOIN phones AS p ON p.user_id = u.id
    WHERE u.deleted_at IS NULL
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

-- Q: Where are the live phone numbers, and how many of them are verified?
-- Columns: region_code (NULL: the number names no region), phone_numbers, verified
--          (verification_status = 'verified'), verified_share (of the region's numbers).
-- An empty mirror gives no rows.
CREATE VIEW clerk.report_phone_regions AS
SELECT p.region_code,
       count(*) AS phone_numbers,
       count(*) FILTER (WHERE p.verification_status = 'verified') AS verified,
       round(count(*) FILTER (WHERE p.verification_status = 'verified')::numeric
             / NULLIF(count(*), 0), 4) AS verified_share
FROM clerk.phone_numbers AS p
JOIN clerk.users AS u ON u.id = p.user_id
WHERE p.deleted_at IS NULL AND u.deleted_at IS NULL
GROUP BY p.region_code
ORDER BY phone_numbers DESC, p.region_code NULLS LAST;

-- Q: Where does the live mirror contradict itself or Clerk's 2FA rules?
-- Columns: kind, user_id, phone_number_id (NULL when the anomaly is the user's), detail.
-- Kinds: several_default_second_factors, default_not_reserved, reserved_not_verified,
--        two_factor_without_factor, primary_phone_missing.
-- detail names ids and flags, never a phone number (analysts may not see those).
-- An empty or healthy mirror gives no rows.
CREATE VIEW clerk.report_integrity AS
WITH live_users AS (
    SELECT * FROM clerk.users WHERE deleted_at IS NULL
), live AS (
    SELECT p.* FROM clerk.phone_numbers AS p JOIN live_users AS u ON u.id = p.user_id
    WHERE p.deleted_at IS NULL
)
SELECT 'several_default_second_factors' AS kind, user_id, NULL::text AS phone_number_id,
       count(*) || ' phone numbers are default_second_factor: '
           || string_agg(id, ', ' ORDER BY id) AS detail
FROM live WHERE default_second_factor
GROUP BY user_id HAVING count(*) > 1
UNION ALL
SELECT 'default_not_reserved', user_id, id,
       'default_second_factor but not reserved_for_second_factor'
FROM live WHERE default_second_factor AND NOT reserved_for_second_factor
UNION ALL
SELECT 'reserved_not_verified', user_id, id,
       'reserved_for_second_factor but verification_status is '
           || coalesce(verification_status, 'null')
FROM live WHERE reserved_for_second_factor AND verification_status IS DISTINCT FROM 'verified'
UNION ALL
SELECT 'two_factor_without_factor', u.id, NULL,
       'two_factor_enabled with no phone reserved_for_second_factor, no TOTP, no backup codes'
FROM live_users AS u
WHERE u.two_factor_enabled
  AND u.totp_enabled IS NOT TRUE AND u.backup_code_enabled IS NOT TRUE
  AND NOT EXISTS (SELECT FROM live AS p WHERE p.user_id = u.id AND p.reserved_for_second_factor)
UNION ALL
SELECT 'primary_phone_missing', u.id, u.primary_phone_number_id,
       CASE WHEN p.id IS NULL THEN 'primary_phone_number_id is not in the mirror'
            WHEN p.user_id <> u.id THEN 'primary_phone_number_id belongs to another user'
            ELSE 'primary_phone_number_id was deleted at '
                 || to_char(p.deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
       END
FROM live_users AS u
LEFT JOIN clerk.phone_numbers AS p ON p.id = u.primary_phone_number_id
WHERE u.primary_phone_number_id IS NOT NULL
  AND (p.id IS NULL OR p.user_id <> u.id OR p.deleted_at IS NOT NULL)
ORDER BY kind, user_id, phone_number_id NULLS FIRST;

-- Q: Is the sync keeping up? (from the inbox, clerk.webhook_events)
-- Columns: pending, failed, dead (events in each status), oldest_pending_seconds (age of
--          the oldest pending event; NULL when none), last_received_at, received_last_hour.
-- Always one row: zeros and NULLs on an empty inbox.
CREATE VIEW clerk.report_sync_health AS
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'dead') AS dead,
       round(extract(epoch FROM now() - min(received_at) FILTER (WHERE status = 'pending')), 3)
           AS oldest_pending_seconds,
       max(received_at) AS last_received_at,
       count(*) FILTER (WHERE received_at > now() - interval '1 hour') AS received_last_hour
FROM clerk.webhook_events;

-- Q: How long does a number take to get verified, per month (UTC) and region?
-- From history, so numbers since deleted count too. A number is first seen at its first
-- history row and verified at its first non-deletion row with verification_status
-- 'verified' (both by effective_at); month and region are those of the verification.
-- Columns: month (first day, a date), region_code, verified, median_seconds, p90_seconds
--          (continuous percentiles of first seen -> verified).
-- An empty history gives no rows.
CREATE VIEW clerk.report_time_to_verify AS
WITH first_seen AS (
    SELECT phone_number_id, min(effective_at) AS first_seen_at
    FROM clerk.phone_number_history
    GROUP BY phone_number_id
), first_verified AS (
    SELECT DISTINCT ON (phone_number_id) phone_number_id, region_code, effective_at
    FROM clerk.phone_number_history
    WHERE verification_status = 'verified' AND change <> 'deleted'
    ORDER BY phone_number_id, effective_at
), durations AS (
    SELECT date_trunc('month', v.effective_at AT TIME ZONE 'UTC')::date AS month,
           v.region_code,
           extract(epoch FROM v.effective_at - f.first_seen_at)::float8 AS seconds
    FROM first_verified AS v JOIN first_seen AS f USING (phone_number_id)
)
SELECT month,
       region_code,
       count(*) AS verified,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)::numeric, 3)
           AS median_seconds,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds)::numeric, 3) AS p90_seconds
FROM durations
GROUP BY month, region_code
ORDER BY month, region_code NULLS LAST;

-- Q: What did clerk.phone_numbers hold at moment `at`?
-- Rebuilt from history: each phone's last row with effective_at <= at, in the mirror's
-- own event order (effective_at, then the event's timestamp, then svix-id) so that two
-- events with the same updated_at resolve as the fold resolved them. A phone deleted by
-- then comes back with deleted_at set, as the table holds it. Same columns as
-- clerk.phone_numbers; declared one by one so that a column added to the table later
-- does not break this function.
CREATE FUNCTION clerk.phone_numbers_as_of(at timestamptz)
RETURNS TABLE (
    id                         text,
    user_id                    text,
    phone_number               text,
    region_code                text,
    reserved_for_second_factor boolean,
    default_second_factor      boolean,
    is_primary                 boolean,
    verification_status        text,
    verification_strategy      text,
    verification_attempts      integer,
    verification_expire_at     timestamptz,
    linked_to                  jsonb,
    created_at                 timestamptz,
    updated_at                 timestamptz,
    deleted_at                 timestamptz
)
LANGUAGE sql STABLE
AS $$
SELECT DISTINCT ON (h.phone_number_id)
       h.phone_number_id, h.user_id, h.phone_number, h.region_code,
       h.reserved_for_second_factor, h.default_second_factor, h.is_primary,
       h.verification_status, h.verification_strategy, h.verification_attempts,
       h.verification_expire_at, h.linked_to, h.created_at, h.updated_at, h.deleted_at
FROM clerk.phone_number_history AS h
WHERE h.effective_at <= phone_numbers_as_of.at
ORDER BY h.phone_number_id, h.effective_at DESC, h.event_at DESC, h.svix_id DESC
$$;

-- The reporting role (created by 0002) was granted what existed then; extend it to
-- these. Checked first because roles are per cluster and may be absent in a dev setup.
-- phone_numbers_as_of runs with the caller's rights (never SECURITY DEFINER: it must
-- not show anyone more than they may read).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'clerk_reporting') THEN
        GRANT SELECT ON clerk.report_verification_status, clerk.report_two_factor,
            clerk.report_phone_regions, clerk.report_integrity, clerk.report_sync_health,
            clerk.report_time_to_verify TO clerk_reporting;
        GRANT EXECUTE ON FUNCTION clerk.phone_numbers_as_of(timestamptz) TO clerk_reporting;
    END IF;
END
$$;
