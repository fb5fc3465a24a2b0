-- Why: 2FA adoption over time could not be answered, because only phone numbers had
-- history; and SMS pumping (toll fraud: bots add numbers that never verify, and the
-- Clerk customer pays for every code sent) shows first as a region's verification rate
-- falling far below its own recent past. This adds clerk.user_history (written by the
-- apply path under the same rules as phone history), the two reports built on it, a
-- per-user form of phone_numbers_as_of that is an index look-up, and new shapes for
-- three live reports that were far slower than a scan of what they read.

-- One row per change of a user's followed fields (two_factor_enabled, totp_enabled,
-- backup_code_enabled, primary_phone_number_id), plus its deletion: change is created
-- (first seen), updated or deleted. Ordered by effective_at (when it was true in Clerk),
-- then event_at, then svix_id, not by arrival; a late event takes its place in time.
CREATE TABLE clerk.user_history (
    history_id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                 text        NOT NULL,
    change                  text        NOT NULL CHECK (change IN ('created', 'updated', 'deleted')),
    primary_phone_number_id text,
    two_factor_enabled      boolean,
    totp_enabled            boolean,
    backup_code_enabled     boolean,
    deleted_at              timestamptz,
    svix_id                 text        NOT NULL,
    effective_at            timestamptz NOT NULL,
    event_at                timestamptz NOT NULL,
    recorded_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, svix_id)
);

CREATE INDEX user_history_user_idx ON clerk.user_history (user_id, effective_at);

-- Users mirrored before this migration start their history at what the mirror holds:
-- a created row at their last snapshot (its svix-id when it was the newest event), and
-- a deleted row for a deleted user. A late event re-folds over these like any others.
INSERT INTO clerk.user_history
    (user_id, change, primary_phone_number_id, two_factor_enabled, totp_enabled,
     backup_code_enabled, svix_id, effective_at, event_at)
SELECT id, 'created', primary_phone_number_id, two_factor_enabled, totp_enabled,
       backup_code_enabled,
       CASE WHEN deleted_at IS NULL THEN version_svix_id ELSE 'migration_0008_' || id END,
       updated_at,
       CASE WHEN deleted_at IS NULL THEN to_timestamp(version_event_ms / 1000.0)
            ELSE updated_at END
FROM clerk.users
WHERE updated_at IS NOT NULL;

INSERT INTO clerk.user_history
    (user_id, change, primary_phone_number_id, two_factor_enabled, totp_enabled,
     backup_code_enabled, deleted_at, svix_id, effective_at, event_at)
SELECT id, 'deleted', primary_phone_number_id, two_factor_enabled, totp_enabled,
       backup_code_enabled, deleted_at, version_svix_id, deleted_at,
       to_timestamp(version_event_ms / 1000.0)
FROM clerk.users
WHERE updated_at IS NOT NULL AND deleted_at IS NOT NULL;

-- Q: What did clerk.phone_numbers hold for one user at moment `at`?
-- The same rows as clerk.phone_numbers_as_of(at) WHERE user_id = for_user_id, read
-- through the history's (user_id, effective_at) index instead of the whole history.
-- Like the one-argument form (0007), it returns the masked number and its hash, never
-- phone_number, so it runs for clerk_reporting.
CREATE FUNCTION clerk.phone_numbers_as_of(at timestamptz, for_user_id text)
RETURNS TABLE (
    id                         text,
    user_id                    text,
    phone_number_masked        text,
    phone_number_hash          text,
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
       h.phone_number_id, h.user_id, h.phone_number_masked, h.phone_number_hash,
       h.region_code, h.reserved_for_second_factor, h.default_second_factor, h.is_primary,
       h.verification_status, h.verification_strategy, h.verification_attempts,
       h.verification_expire_at, h.linked_to, h.created_at, h.updated_at, h.deleted_at
FROM clerk.phone_number_history AS h
WHERE h.user_id = phone_numbers_as_of.for_user_id AND h.effective_at <= phone_numbers_as_of.at
ORDER BY h.phone_number_id, h.effective_at DESC, h.event_at DESC, h.svix_id COLLATE "C" DESC
$$;

-- Q: How did 2FA adoption move, per month (UTC)?
-- From user_history (2FA, TOTP, backup codes) and phone_number_history (a phone second
-- factor: a live phone reserved_for_second_factor), so deleted users count while alive.
-- Columns: month (first day, a date); users (live at month end); then for each factor,
--          two_factor, totp, backup_codes, phone: <factor>_users (on at month end; the
--          last month: at its last change), <factor>_turned_on and <factor>_turned_off
--          (users who switched it that month; a user first seen with it on, or deleted
--          with it on, changes the month-end count only); two_factor_share (of users).
-- An empty mirror gives no rows; months without changes carry the counts forward.
CREATE VIEW clerk.report_two_factor_adoption AS
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
    -- only phones that were ever reserved can change a user's phone second factor
    SELECT user_id, phone_number_id, svix_id, effective_at, event_at,
           (reserved_for_second_factor AND change <> 'deleted')::int AS reserved
    FROM clerk.phone_number_history
    WHERE phone_number_id IN (
        SELECT phone_number_id FROM clerk.phone_number_history WHERE reserved_for_second_factor
    )
), phone_deltas AS (
    SELECT user_id, svix_id, effective_at, event_at,
           sum(reserved - coalesce(lag_reserved, 0)) AS delta
    FROM (SELECT *, lag(reserved) OVER (PARTITION BY phone_number_id
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
    SELECT user_id, effective_at, lifecycle, live, two_factor, totp, backup_codes, 0 AS phone
    FROM user_flips
    UNION ALL
    SELECT f.user_id, f.effective_at,
           EXISTS (SELECT FROM clerk.user_history AS l
                   WHERE l.user_id = f.user_id AND l.svix_id = f.svix_id
                     AND l.change IN ('created', 'deleted')),
           0, 0, 0, 0, f.phone
    FROM phone_flips AS f
    WHERE f.phone <> 0
), monthly AS (
    SELECT date_trunc('month', effective_at AT TIME ZONE 'UTC')::date AS month,
           sum(live) AS live,
           sum(two_factor) AS two_factor,
           count(DISTINCT user_id) FILTER (WHERE two_factor > 0 AND NOT lifecycle) AS two_factor_on,
           count(DISTINCT user_id) FILTER (WHERE two_factor < 0 AND NOT lifecycle) AS two_factor_off,
           sum(totp) AS totp,
           count(DISTINCT user_id) FILTER (WHERE totp > 0 AND NOT lifecycle) AS totp_on,
           count(DISTINCT user_id) FILTER (WHERE totp < 0 AND NOT lifecycle) AS totp_off,
           sum(backup_codes) AS backup_codes,
           count(DISTINCT user_id) FILTER (WHERE backup_codes > 0 AND NOT lifecycle) AS backup_on,
           count(DISTINCT user_id) FILTER (WHERE backup_codes < 0 AND NOT lifecycle) AS backup_off,
           sum(phone) AS phone,
           count(DISTINCT user_id) FILTER (WHERE phone > 0 AND NOT lifecycle) AS phone_on,
           count(DISTINCT user_id) FILTER (WHERE phone < 0 AND NOT lifecycle) AS phone_off
    FROM flips
    WHERE live <> 0 OR two_factor <> 0 OR totp <> 0 OR backup_codes <> 0 OR phone <> 0
    GROUP BY 1
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

-- Q: Per region and day (UTC), how many numbers were added and how did they fare, and
--    does a region look like SMS pumping?
-- From history, so numbers since deleted count too. A number is added on the day of its
-- first history row, in its region (NULL: none). Columns: day, region_code, added; of
-- those numbers: verified (ever reached 'verified'), failed (reached 'failed', never
-- verified), expired (reached 'expired', neither verified nor failed);
-- verification_rate (verified / added); unverified_share (1 - verification_rate);
-- baseline_added and baseline_unverified_share (the same region over the 28 days before
-- this one; NULL when it added nothing then); suspicious.
-- suspicious: at least min_added numbers that day and in the baseline, an unverified
-- share at least min_rise above the baseline's, and at least min_z standard errors above
-- it (binomial, with the baseline share kept within [0.01, 0.99] so that a spotless or
-- hopeless baseline still has a spread). Call the function with other values to tune.
CREATE FUNCTION clerk.sms_verification_by_region_day(
    min_added integer DEFAULT 20, min_rise numeric DEFAULT 0.25, min_z numeric DEFAULT 4
)
RETURNS TABLE (
    day                       date,
    region_code               text,
    added                     bigint,
    verified                  bigint,
    failed                    bigint,
    expired                   bigint,
    verification_rate         numeric,
    unverified_share          numeric,
    baseline_added            bigint,
    baseline_unverified_share numeric,
    suspicious                boolean
)
LANGUAGE sql STABLE
AS $$
WITH phones AS (
    -- a number's region comes from the number itself, which a phone id never changes
    SELECT min(effective_at) AS added_at,
           min(region_code) AS region_code,
           bool_or(verification_status = 'verified' AND change <> 'deleted') AS verified,
           bool_or(verification_status = 'failed') AS failed,
           bool_or(verification_status = 'expired') AS expired
    FROM clerk.phone_number_history
    GROUP BY phone_number_id
), daily AS (
    SELECT (added_at AT TIME ZONE 'UTC')::date AS day, region_code,
           count(*) AS added,
           count(*) FILTER (WHERE verified) AS verified,
           count(*) FILTER (WHERE failed AND NOT verified) AS failed,
           count(*) FILTER (WHERE expired AND NOT verified AND NOT failed) AS expired
    FROM phones
    GROUP BY 1, 2
), with_baseline AS (
    SELECT d.*,
           sum(added) OVER w AS baseline_added,
           sum(added - verified) OVER w AS baseline_unverified
    FROM daily AS d
    WINDOW w AS (PARTITION BY region_code ORDER BY day
                 RANGE BETWEEN interval '28 days' PRECEDING AND interval '1 day' PRECEDING)
), shares AS (
    SELECT b.*,
           (added - verified)::numeric / added AS share,
           baseline_unverified::numeric / NULLIF(baseline_added, 0) AS base,
           least(greatest(baseline_unverified::numeric / NULLIF(baseline_added, 0), 0.01), 0.99)
               AS p
    FROM with_baseline AS b
)
SELECT day, region_code, added, verified, failed, expired,
       round(verified::numeric / added, 4),
       round(share, 4),
       coalesce(baseline_added, 0)::bigint,
       round(base, 4),
       coalesce(added >= sms_verification_by_region_day.min_added
                AND baseline_added >= sms_verification_by_region_day.min_added
                AND share - base >= sms_verification_by_region_day.min_rise
                AND (share - p) / sqrt(p * (1 - p) / added) >= sms_verification_by_region_day.min_z,
                false)
FROM shares
ORDER BY day, region_code NULLS LAST
$$;

-- The report with the default thresholds; see the function for the columns.
CREATE VIEW clerk.report_sms_verification_by_region_day AS
SELECT * FROM clerk.sms_verification_by_region_day();

-- The live reports below were re-shaped from EXPLAIN (ANALYZE, BUFFERS) at 2,000,000
-- phone numbers (docs/benchmarks.md, Reports); same questions, same columns, same rows.
-- A phone always has its user's row (both are written together) and "live" excludes
-- deleted users: an anti-join on the deleted users only hashes the few of them, where the
-- inner join hashed every user.
CREATE OR REPLACE VIEW clerk.report_verification_status AS
SELECT p.verification_status,
       p.verification_strategy,
       count(*) AS phone_numbers,
       round(count(*) / NULLIF(sum(count(*)) OVER (), 0), 4) AS share
FROM clerk.phone_numbers AS p
WHERE p.deleted_at IS NULL
  AND NOT EXISTS (SELECT FROM clerk.users AS u WHERE u.id = p.user_id AND u.deleted_at IS NOT NULL)
GROUP BY p.verification_status, p.verification_strategy
ORDER BY phone_numbers DESC, p.verification_status NULLS LAST, p.verification_strategy NULLS LAST;

CREATE OR REPLACE VIEW clerk.report_phone_regions AS
SELECT p.region_code,
       count(*) AS phone_numbers,
       count(*) FILTER (WHERE p.verification_status = 'verified') AS verified,
       round(count(*) FILTER (WHERE p.verification_status = 'verified')::numeric
             / NULLIF(count(*), 0), 4) AS verified_share
FROM clerk.phone_numbers AS p
WHERE p.deleted_at IS NULL
  AND NOT EXISTS (SELECT FROM clerk.users AS u WHERE u.id = p.user_id AND u.deleted_at IS NOT NULL)
GROUP BY p.region_code
ORDER BY phone_numbers DESC, p.region_code NULLS LAST;

-- The user counts need only clerk.users; the phone counts only the second-factor phones
-- (a few hundred thousand of millions) joined to their 2FA users. Grouping every live
-- phone per user and joining that to every user spilled to disk in each parallel worker.
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

-- Views and the table reach clerk_reporting through 0002's default privileges; functions
-- are granted here (they run with the caller's rights, never SECURITY DEFINER).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'clerk_reporting') THEN
        GRANT EXECUTE ON FUNCTION clerk.phone_numbers_as_of(timestamptz, text),
            clerk.sms_verification_by_region_day(integer, numeric, numeric) TO clerk_reporting;
    END IF;
END
$$;
