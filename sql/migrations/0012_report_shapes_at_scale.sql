-- Why: at 1,000,000 users and 10,000,000 history rows (docs/benchmarks.md, Reports) the
-- whole-mirror phone_numbers_as_of(t) ran at 13x a scan of the history: it sorted every
-- history row up to t by phone, at full width, to keep each phone's last one.
-- report_integrity joined every live user to every phone (12x a scan of both), and the
-- live phone counts anti-joined every live phone to the deleted users, which the mirror's
-- own rules make redundant. Same questions, same columns, same rows, but one: the per-user
-- as-of now follows each phone's own rows, so it no longer returns, for a phone id that
-- another user's snapshots took over (Clerk does not move phone ids), the last row the
-- first user had.
--
-- Stop the workers of an earlier release before this migration: they would write history
-- without valid_until and users without primary_phone_problem.
--
-- On an existing mirror this migration rewrites every history row but each phone's newest
-- (to fill valid_until): about 8.5 minutes at 10,000,000 rows; (auto)vacuum then makes
-- the old row versions' space reusable.

-- Each history row says until when it held: the effective_at of the next row of the same
-- phone in history order (effective_at, event_at, svix_id); NULL for the newest, which
-- still holds.
-- The writers (worker/mirror/apply.py, erasure) recompute it for exactly the phones whose
-- history a transaction changed, as they do the facts of 0011. A row of a tie (the same
-- effective_at as the next) holds for no moment at all, which is the as-of rule: the last
-- row in history order at or before t.
ALTER TABLE clerk.phone_number_history
    ADD COLUMN valid_until timestamptz;
-- clerk_reporting reads this table column by column (0007); the new one is no number.
GRANT SELECT (valid_until) ON clerk.phone_number_history TO clerk_reporting;

-- The one definition of valid_until, beside the value kept (kept_valid_until): the
-- writers use it filtered on phone_number_id (the partition, so the filter reaches the
-- history's phone index) and on the two differing, so that only the rows to change are
-- joined back; a check compares them for every row.
CREATE VIEW clerk.phone_history_valid_until AS
SELECT history_id,
       phone_number_id,
       lead(effective_at) OVER (PARTITION BY phone_number_id
                                ORDER BY effective_at, event_at, svix_id COLLATE "C")
           AS valid_until,
       valid_until AS kept_valid_until
FROM clerk.phone_number_history;

UPDATE clerk.phone_number_history AS h
SET valid_until = v.valid_until
FROM clerk.phone_history_valid_until AS v
WHERE v.history_id = h.history_id AND v.valid_until IS DISTINCT FROM v.kept_valid_until;

-- History is written in about effective_at order (events arrive about when they happen),
-- so a block range index lets an as-of skip the blocks written after its moment; where a
-- backfill or a late event wrote old times into new blocks, those ranges are read anyway.
CREATE INDEX phone_number_history_effective_brin
    ON clerk.phone_number_history USING brin (effective_at);

-- Space on each page for the one later update of most rows (when the phone's next row
-- arrives), so that it can stay on its page without new index entries.
ALTER TABLE clerk.phone_number_history SET (fillfactor = 90);

-- Columns as in 0007: a filter on the row that held at t, no sort. The per-user form is
-- the same filtered by user: both are inlined, so the filter reaches
-- phone_number_history_user_idx as before.
CREATE OR REPLACE FUNCTION clerk.phone_numbers_as_of(at timestamptz)
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
SELECT h.phone_number_id, h.user_id, h.phone_number_masked, h.phone_number_hash,
       h.region_code, h.reserved_for_second_factor, h.default_second_factor, h.is_primary,
       h.verification_status, h.verification_strategy, h.verification_attempts,
       h.verification_expire_at, h.linked_to, h.created_at, h.updated_at, h.deleted_at
FROM clerk.phone_number_history AS h
WHERE h.effective_at <= phone_numbers_as_of.at
  AND (h.valid_until > phone_numbers_as_of.at OR h.valid_until IS NULL)
$$;

CREATE OR REPLACE FUNCTION clerk.phone_numbers_as_of(at timestamptz, for_user_id text)
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
SELECT * FROM clerk.phone_numbers_as_of(phone_numbers_as_of.at) AS a
WHERE a.user_id = phone_numbers_as_of.for_user_id
$$;

-- A function is PARALLEL UNSAFE unless it says otherwise, and an unsafe function anywhere
-- in a query keeps the whole query in one process, though this one is inlined: its view
-- counted all 2,000,000 phone facts in one process. It only reads.
ALTER FUNCTION clerk.sms_verification_by_region_day(integer, numeric, numeric) PARALLEL SAFE;

-- The live reports below. The fold deletes every phone of a user it deletes, in the same
-- write (worker/mirror/fold.py, and erasure does the same), so a live phone never belongs
-- to a deleted user: "a live phone" is deleted_at IS NULL, with no anti-join on the users
-- (it probed every live phone against the deleted users; tests/model checks the rule).
CREATE OR REPLACE VIEW clerk.report_verification_status AS
SELECT p.verification_status,
       p.verification_strategy,
       count(*) AS phone_numbers,
       round(count(*) / NULLIF(sum(count(*)) OVER (), 0), 4) AS share
FROM clerk.phone_numbers AS p
WHERE p.deleted_at IS NULL
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
GROUP BY p.region_code
ORDER BY phone_numbers DESC, p.region_code NULLS LAST;

-- primary_phone_missing asked, for every live user, whether its primary phone is one of
-- its own live phones: a join of every user to every phone, 12x a scan of both. The answer
-- is kept per user instead: users.primary_phone_problem is the report's detail for that
-- user (NULL when the primary phone is fine, or there is none), and a partial index holds
-- the few users who have one. The writers recompute it, in the statement after their
-- upserts, for the users they wrote and for the users whose primary phone is one of the
-- phones they wrote (a phone's row can change without its primary holder being written).
ALTER TABLE clerk.users ADD COLUMN primary_phone_problem text;

-- The one definition of primary_phone_problem, for the writers (filtered on id or
-- primary_phone_number_id) and for a check that compares the column against it.
CREATE VIEW clerk.users_primary_phone_problem AS
SELECT u.id, u.primary_phone_number_id,
       CASE WHEN u.primary_phone_number_id IS NULL THEN NULL
            WHEN p.id IS NULL THEN 'primary_phone_number_id is not in the mirror'
            WHEN p.user_id <> u.id THEN 'primary_phone_number_id belongs to another user'
            WHEN p.deleted_at IS NOT NULL
                THEN 'primary_phone_number_id was deleted at '
                     || to_char(p.deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
       END AS primary_phone_problem
FROM clerk.users AS u
LEFT JOIN clerk.phone_numbers AS p ON p.id = u.primary_phone_number_id;

UPDATE clerk.users AS u
SET primary_phone_problem = m.primary_phone_problem
FROM clerk.users_primary_phone_problem AS m
WHERE m.id = u.id AND m.primary_phone_problem IS NOT NULL;

CREATE INDEX users_primary_phone_number_idx ON clerk.users (primary_phone_number_id);
CREATE INDEX users_primary_phone_problem_idx ON clerk.users (id)
    WHERE primary_phone_problem IS NOT NULL AND deleted_at IS NULL;
-- The second-factor phones in user order, with what the integrity checks read: a few
-- hundred thousand of millions, read by index only (0011 filtered them from all phones
-- into a CTE, then sorted it by user).
CREATE INDEX phone_numbers_second_factor_idx
    ON clerk.phone_numbers (user_id, id)
    INCLUDE (default_second_factor, reserved_for_second_factor, verification_status)
    WHERE deleted_at IS NULL AND (default_second_factor OR reserved_for_second_factor);

-- Q, columns and rows as in 0004.
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
