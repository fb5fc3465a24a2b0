-- Why: the history reports (time to verify, SMS verification by region and day, the phone
-- part of 2FA adoption) each need facts that only a phone's whole history holds (its first
-- row, its first verified row, whether it ever failed), so each grouped all history rows
-- by phone: 18x to 39x a scan of the history at 10,000,000 rows (docs/benchmarks.md,
-- Reports). clerk.phone_facts keeps those facts, one row per phone, recomputed by the
-- apply path (and erasure) from the history rows of exactly the phones whose history a
-- transaction changed, so the reports read 2,000,000 rows instead of 10,000,000.
-- clerk.user_factor_changes does the same for 2FA adoption's per-user changes (windows
-- over both histories before). And report_integrity, which materialized every live phone,
-- reads only the phones that are a second factor. Same questions, same columns, same rows.

-- A phone's facts as its history says them now: the one definition of clerk.phone_facts,
-- which the writers use (filtered on phone_number_id, a grouping column, so the filter
-- reaches the history's phone index) and which a check compares the table against.
-- No phone number, raw or masked: nothing here is personal beyond the ids.
CREATE VIEW clerk.phone_facts_of_history AS
SELECT phone_number_id,
       min(user_id) AS user_id,
       -- a number's region comes from the number itself, which a phone id never changes
       min(region_code) AS region_code,
       min(effective_at) AS first_seen_at,
       min(effective_at) FILTER (WHERE verification_status = 'verified' AND change <> 'deleted')
           AS first_verified_at,
       (array_agg(region_code ORDER BY effective_at, event_at, svix_id COLLATE "C")
            FILTER (WHERE verification_status = 'verified' AND change <> 'deleted'))[1]
           AS first_verified_region_code,
       coalesce(bool_or(verification_status = 'failed'), false) AS ever_failed,
       coalesce(bool_or(verification_status = 'expired'), false) AS ever_expired,
       bool_or(reserved_for_second_factor) AS ever_reserved,
       -- derived here, once per write, so that the reports group and sort plain columns
       (min(effective_at) AT TIME ZONE 'UTC')::date AS added_day,
       date_trunc('month', min(effective_at) FILTER (WHERE verification_status = 'verified'
                                                     AND change <> 'deleted')
                           AT TIME ZONE 'UTC')::date AS verified_month,
       extract(epoch FROM min(effective_at) FILTER (WHERE verification_status = 'verified'
                                                    AND change <> 'deleted')
                          - min(effective_at))::float8 AS seconds_to_verify,
       CASE WHEN bool_or(verification_status = 'verified' AND change <> 'deleted') THEN 'verified'
            WHEN bool_or(verification_status = 'failed') THEN 'failed'
            WHEN bool_or(verification_status = 'expired') THEN 'expired'
       END AS outcome
FROM clerk.phone_number_history
GROUP BY phone_number_id;

-- Columns as in the view above. first_verified_at is NULL for a phone never verified
-- (outside a deletion row); first_verified_region_code is that row's region; added_day
-- (UTC) is first_seen_at's, verified_month (UTC) first_verified_at's, seconds_to_verify
-- the time between them; outcome is verified, else failed, else expired, else NULL.
CREATE TABLE clerk.phone_facts (
    phone_number_id            text        PRIMARY KEY,
    user_id                    text        NOT NULL,
    region_code                text,
    first_seen_at              timestamptz NOT NULL,
    first_verified_at          timestamptz,
    first_verified_region_code text,
    ever_failed                boolean     NOT NULL,
    ever_expired               boolean     NOT NULL,
    ever_reserved              boolean     NOT NULL,
    added_day                  date        NOT NULL,
    verified_month             date,
    seconds_to_verify          float8,
    outcome                    text
);

INSERT INTO clerk.phone_facts SELECT * FROM clerk.phone_facts_of_history;

-- 2FA adoption follows only the phones that were ever a reserved second factor.
CREATE INDEX phone_facts_reserved_idx ON clerk.phone_facts (phone_number_id) WHERE ever_reserved;
-- In the order the reports group by, holding what they count: each becomes an index-only
-- scan with a streaming group aggregate, no sort (time to verify: each group's durations
-- come sorted, which its percentiles' own sort only checks).
CREATE INDEX phone_facts_verified_idx
    ON clerk.phone_facts (verified_month, first_verified_region_code, seconds_to_verify)
    WHERE verified_month IS NOT NULL;
CREATE INDEX phone_facts_added_idx ON clerk.phone_facts (region_code, added_day, outcome);

-- Q, columns and rows as in 0004; from the facts instead of two passes over history.
CREATE OR REPLACE VIEW clerk.report_time_to_verify AS
WITH durations AS (
    SELECT verified_month AS month, first_verified_region_code AS region_code,
           seconds_to_verify AS seconds
    FROM clerk.phone_facts
    WHERE verified_month IS NOT NULL
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

-- Q, columns and rows as in 0008; the per-phone part read from the facts.
CREATE OR REPLACE FUNCTION clerk.sms_verification_by_region_day(
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
WITH outcomes AS (
    -- one count per row, in the window's (and phone_facts_added_idx's) order
    SELECT region_code, added_day, outcome, count(*) AS phones
    FROM clerk.phone_facts
    GROUP BY region_code, added_day, outcome
), daily AS (
    SELECT added_day AS day, region_code,
           sum(phones)::bigint AS added,
           coalesce(sum(phones) FILTER (WHERE outcome = 'verified'), 0)::bigint AS verified,
           coalesce(sum(phones) FILTER (WHERE outcome = 'failed'), 0)::bigint AS failed,
           coalesce(sum(phones) FILTER (WHERE outcome = 'expired'), 0)::bigint AS expired
    FROM outcomes
    GROUP BY region_code, added_day
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

-- Q, columns and rows as in 0004. The first four kinds concern only phones that are a
-- default or reserved second factor (a few hundred thousand of millions): the CTE holds
-- those, not every live phone. A phone always has its user's row (0008), so "live"
-- is an anti-join on the deleted users. The live users are read in place by the two
-- branches that need them (as a CTE read twice, all of them were materialized).
CREATE OR REPLACE VIEW clerk.report_integrity AS
WITH live AS (
    SELECT p.id, p.user_id, p.default_second_factor, p.reserved_for_second_factor,
           p.verification_status
    FROM clerk.phone_numbers AS p
    WHERE p.deleted_at IS NULL AND (p.default_second_factor OR p.reserved_for_second_factor)
      AND NOT EXISTS (SELECT FROM clerk.users AS u
                      WHERE u.id = p.user_id AND u.deleted_at IS NOT NULL)
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
FROM clerk.users AS u
WHERE u.deleted_at IS NULL AND u.two_factor_enabled
  AND u.totp_enabled IS NOT TRUE AND u.backup_code_enabled IS NOT TRUE
  AND NOT EXISTS (SELECT FROM live AS p WHERE p.user_id = u.id AND p.reserved_for_second_factor)
UNION ALL
SELECT 'primary_phone_missing', u.id, u.primary_phone_number_id,
       CASE WHEN p.id IS NULL THEN 'primary_phone_number_id is not in the mirror'
            WHEN p.user_id <> u.id THEN 'primary_phone_number_id belongs to another user'
            ELSE 'primary_phone_number_id was deleted at '
                 || to_char(p.deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
       END
FROM clerk.users AS u
LEFT JOIN clerk.phone_numbers AS p ON p.id = u.primary_phone_number_id
WHERE u.deleted_at IS NULL AND u.primary_phone_number_id IS NOT NULL
  AND (p.id IS NULL OR p.user_id <> u.id OR p.deleted_at IS NOT NULL)
ORDER BY kind, user_id, phone_number_id NULLS FIRST;


-- 2FA adoption's changes per user and month (UTC), from migration 0008's flips (+1 where a
-- factor went on, -1 where it went off; lifecycle marks a user's first and deleted rows):
-- for each of live, two_factor, totp, backup_codes and phone, the month's net change and
-- whether the user switched it on (<factor>_on) or off (<factor>_off) that month. The
-- definition of clerk.user_factor_changes, which the writers fill for the users whose
-- history they wrote. Every window partitions by user_id (a phone belongs to one user),
-- so a filter on user_id reaches the histories' user indexes.
CREATE VIEW clerk.user_factor_changes_of_history AS
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
    WHERE phone_number_id IN (SELECT phone_number_id FROM clerk.phone_facts WHERE ever_reserved)
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
    -- only the rows that change a count (the report's own filter in 0008)
    SELECT user_id, effective_at, lifecycle, live, two_factor, totp, backup_codes, 0 AS phone
    FROM user_flips
    WHERE live <> 0 OR two_factor <> 0 OR totp <> 0 OR backup_codes <> 0
    UNION ALL
    SELECT f.user_id, f.effective_at,
           EXISTS (SELECT FROM clerk.user_history AS l
                   WHERE l.user_id = f.user_id AND l.svix_id = f.svix_id
                     AND l.change IN ('created', 'deleted')),
           0, 0, 0, 0, f.phone
    FROM phone_flips AS f
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

-- Columns as in the view above; one row per user and month with a change.
CREATE TABLE clerk.user_factor_changes (
    user_id          text    NOT NULL,
    month            date    NOT NULL,
    live             integer NOT NULL,
    two_factor       integer NOT NULL,
    two_factor_on    boolean NOT NULL,
    two_factor_off   boolean NOT NULL,
    totp             integer NOT NULL,
    totp_on          boolean NOT NULL,
    totp_off         boolean NOT NULL,
    backup_codes     integer NOT NULL,
    backup_codes_on  boolean NOT NULL,
    backup_codes_off boolean NOT NULL,
    phone            integer NOT NULL,
    phone_on         boolean NOT NULL,
    phone_off        boolean NOT NULL,
    PRIMARY KEY (user_id, month)
);

INSERT INTO clerk.user_factor_changes SELECT * FROM clerk.user_factor_changes_of_history;

-- Q, columns and rows as in 0008; the per-user changes come from the table, kept as the
-- history is written, instead of windows over both histories.
CREATE OR REPLACE VIEW clerk.report_two_factor_adoption AS
WITH monthly AS (
    -- a user counts once per month and direction: the table holds that already
    SELECT month,
           sum(live) AS live,
           sum(two_factor) AS two_factor,
           count(*) FILTER (WHERE two_factor_on) AS two_factor_on,
           count(*) FILTER (WHERE two_factor_off) AS two_factor_off,
           sum(totp) AS totp,
           count(*) FILTER (WHERE totp_on) AS totp_on,
           count(*) FILTER (WHERE totp_off) AS totp_off,
           sum(backup_codes) AS backup_codes,
           count(*) FILTER (WHERE backup_codes_on) AS backup_on,
           count(*) FILTER (WHERE backup_codes_off) AS backup_off,
           sum(phone) AS phone,
           count(*) FILTER (WHERE phone_on) AS phone_on,
           count(*) FILTER (WHERE phone_off) AS phone_off
    FROM clerk.user_factor_changes
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
