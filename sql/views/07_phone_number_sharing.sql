-- clerk.phone_number_sharing_of_phones (view), by which the triggers of the phones, the
-- users and the phone history keep clerk.phone_number_sharing
--
-- Question: Which numbers do several live users hold, or did a new user take after a deletion, counted from the phones?
--
-- Columns:
--   phone_number: the number (raw: the owner's alone).
--   phone_number_hash: the number's keyed hash; NULL when its rows were written without
--     CLERK_MIRROR_PII_KEY.
--   phone_number_masked: the number, masked.
--   region_code: its region.
--   live_users: live users holding it now.
--   deleted_users: deleted users who held it.
--   reheld_users: users who got it at or after another holder's deletion.
--   user_ids: every holder, earliest first.
--   first_deleted_at, second_deleted_at: the earliest two deletions of its deleted
--     holders' users (those read through a deleted phone of the number; equal when two
--     were deleted at once), by which the triggers tell what a later deletion or a new
--     holder changes without a fold; not in the report.
--
-- Empty mirror: no rows.
--
-- The one definition of the rows of `report_shared_phone_numbers`, which reads them from
-- the table `clerk.phone_number_sharing` (migration 0028) in its order instead of folding
-- every holding of every shared number at each call. `clerk.phone_number_sharing_of` folds
-- the phones of the numbers it is given; this view gives it every number more than one
-- phone carries (`clerk.phone_number_counts`, 0027): a number on one phone has one holder
-- and is never shown. A holding starts at the phone's `created_at` (else when the mirror
-- first saw it) and ends when the phone or its user is deleted; a live phone's user is live
-- (the worker deletes a user's phones with it; the model test checks it), so a user is read
-- only for a deleted phone.
--
-- Triggers keep the table in the same transaction as every statement that can change a
-- row: a statement on `clerk.phone_numbers` that adds, removes or changes a phone's number,
-- hash, region, user, `created_at` or `deleted_at`; on `clerk.users`, a change of
-- `deleted_at` or a removed user (for their deleted phones); on
-- `clerk.phone_number_history`, an added or removed row of a phone without `created_at`;
-- and a `TRUNCATE` of any of the three (all rows again). Each takes the count row of every
-- number it touched (`SELECT ... FOR UPDATE`, in the numbers' order; a statement that
-- changes a number's count has it already, from the counts' own trigger), and only then,
-- in a later statement that sees what another writer of the number committed meanwhile,
-- folds again the numbers touched that more than one phone carries or that have a row.
-- Two writers of one number thus never both fold without seeing the other. A statement
-- that touches no such number reads one count row and one kept row per number at most.
-- Two changes are written to the row without folding it again, as they are the common
-- ones on a number thousands hold: new phones that only add live holders after the row's
-- last one are appended to it (a probe of the last holder's phones; reheld when they took it
-- at or after the first deletion), and phones marked deleted, of users that are still
-- there and held no deleted phone of the number before, whose users' deletions are none or
-- come no earlier than the row's second (so nobody's standing moves), only move its live
-- and deleted counts (a probe of those users' own phones of the number), when the row stays
-- in the report. Any other change folds.
-- The model test and `tests/sql/test_phone_number_sharing.py` compare the table with this
-- view.

-- Its columns changed (0031): dropped first. Nothing else is built on either.
DROP VIEW IF EXISTS clerk.phone_number_sharing_of_phones;
DROP FUNCTION IF EXISTS clerk.phone_number_sharing_of(text[]);

-- The report's rows for these numbers (raw), in no order; a number not in the report
-- gives none. The caller's rights: it reads raw numbers.
CREATE FUNCTION clerk.phone_number_sharing_of(of_numbers text[])
RETURNS TABLE (
    phone_number        text,
    phone_number_hash   text,
    phone_number_masked text,
    region_code         text,
    live_users          bigint,
    deleted_users       bigint,
    reheld_users        bigint,
    user_ids            text[],
    first_deleted_at    timestamptz,
    second_deleted_at   timestamptz
)
LANGUAGE sql STABLE
AS $$
WITH holdings AS (
    SELECT p.phone_number, p.phone_number_hash, p.phone_number_masked, p.region_code,
           p.user_id,
           coalesce(p.created_at, (SELECT min(h.effective_at)
                                   FROM clerk.phone_number_history AS h
                                   WHERE h.phone_number_id = p.id)) AS held_from,
           p.deleted_at IS NULL AND u.deleted_at IS NULL AS live,
           u.deleted_at AS user_deleted_at
    FROM clerk.phone_numbers AS p
    CROSS JOIN LATERAL (
        SELECT NULL::timestamptz AS deleted_at WHERE p.deleted_at IS NULL
        UNION ALL
        SELECT u.deleted_at FROM clerk.users AS u
        WHERE p.deleted_at IS NOT NULL AND u.id = p.user_id
    ) AS u
    WHERE p.phone_number = ANY(of_numbers)
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
), folded AS (
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
           array_agg(user_id ORDER BY first_held_from NULLS LAST, user_id) AS user_ids,
           max(first_deleted) AS first_deleted_at,
           max(second_deleted) AS second_deleted_at
    FROM deletions
    GROUP BY phone_number
)
SELECT phone_number, phone_number_hash, phone_number_masked, region_code, live_users,
       deleted_users, reheld_users, user_ids, first_deleted_at, second_deleted_at
FROM folded
WHERE live_users > 1 OR reheld_users > 0
$$;

CREATE VIEW clerk.phone_number_sharing_of_phones AS
SELECT *
FROM clerk.phone_number_sharing_of(
    ARRAY(SELECT phone_number FROM clerk.phone_number_counts WHERE phones > 1));
-- Raw numbers: not for the reporting role, which new objects of the schema grant to.
REVOKE ALL ON clerk.phone_number_sharing_of_phones FROM clerk_reporting;

-- Takes the count row of each of `numbers`, in their order: every writer of a number takes
-- it before it reads or writes the number's row.
CREATE OR REPLACE FUNCTION clerk.phone_number_sharing_lock(numbers text[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM 1 FROM clerk.phone_number_counts AS c
    WHERE c.phone_number = ANY(numbers)
    ORDER BY c.phone_number COLLATE "C"
    FOR UPDATE;
END
$$;

-- Folds again those of `numbers` that more than one phone carries or that have a row, once
-- it holds the count row of each of `unlocked` (those whose count the statement did not
-- change, so that the counts' trigger has not taken them). The lock comes first and the
-- fold in a later statement: a writer of the same number that committed while this one
-- waited is seen. The phones' insert trigger below gathers new holders only for numbers
-- that pass this same test, probed row by row there (where Postgres may hash the few
-- numbers counted more than once); as one function of both, an array in and out, it cost
-- a backfill of numbers each its own 238 ms for 60,000 users against 17. A change to the
-- test here is a change there.
CREATE OR REPLACE FUNCTION clerk.phone_number_sharing_refresh(numbers text[], unlocked text[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    due text[];
BEGIN
    IF cardinality(numbers) IS NULL OR cardinality(numbers) = 0 THEN
        RETURN;
    END IF;
    IF cardinality(unlocked) > 0 THEN
        PERFORM clerk.phone_number_sharing_lock(unlocked);
    END IF;
    SELECT array_agg(d.phone_number) INTO due
    FROM (SELECT c.phone_number FROM clerk.phone_number_counts AS c
          WHERE c.phone_number = ANY(numbers) AND c.phones > 1
          UNION
          SELECT k.phone_number FROM clerk.phone_number_sharing AS k
          WHERE k.phone_number = ANY(numbers)) AS d;
    IF due IS NULL THEN
        RETURN;
    END IF;
    WITH fresh AS MATERIALIZED (
        SELECT * FROM clerk.phone_number_sharing_of(due)
    ), gone AS (
        DELETE FROM clerk.phone_number_sharing AS k
        WHERE k.phone_number = ANY(due)
          AND NOT EXISTS (SELECT FROM fresh AS f WHERE f.phone_number = k.phone_number)
    )
    INSERT INTO clerk.phone_number_sharing AS k
    SELECT * FROM fresh
    ORDER BY fresh.phone_number COLLATE "C"
    ON CONFLICT (phone_number) DO UPDATE SET
        phone_number_hash = EXCLUDED.phone_number_hash,
        phone_number_masked = EXCLUDED.phone_number_masked,
        region_code = EXCLUDED.region_code,
        live_users = EXCLUDED.live_users,
        deleted_users = EXCLUDED.deleted_users,
        reheld_users = EXCLUDED.reheld_users,
        user_ids = EXCLUDED.user_ids,
        first_deleted_at = EXCLUDED.first_deleted_at,
        second_deleted_at = EXCLUDED.second_deleted_at
    WHERE k IS DISTINCT FROM EXCLUDED;
END
$$;

-- Every row again, by the definition above (a TRUNCATE, and the fill below).
CREATE OR REPLACE FUNCTION clerk.phone_number_sharing_refill()
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM clerk.phone_number_sharing;
    INSERT INTO clerk.phone_number_sharing SELECT * FROM clerk.phone_number_sharing_of_phones;
END
$$;

-- A statement wrote phones. A new or removed phone changes its number's count (the counts'
-- trigger, which runs first by name, holds the count row); an updated phone matters when
-- its number, hash, region, user, `created_at` or `deleted_at` changed, and its number
-- is locked here unless the statement moved its count.
CREATE OR REPLACE FUNCTION clerk.phone_numbers_shared()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    numbers text[];
    unlocked text[];
    deletions_only text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- New holders of a number that has a row already are added to it without a fold,
        -- when what the fold would say is plain: each new phone live and with its
        -- `created_at`, the new holders not among the row's, and sorting after its last
        -- holder (by first holding, then id, as `user_ids` is ordered): one more live
        -- holder each, appended, and reheld when it took the number at or after the first
        -- deletion of a holder. A live holder moves neither deletion, so nobody else's
        -- standing changes. Every other number is folded again. A number held by thousands
        -- (a test number, one an app gives every user) cost a fold of all its holders per
        -- new one. Only the numbers that the refresh below would read are gathered: those
        -- more than one phone carries (the counts' trigger has counted the new phones)
        -- and those with a row. Most new numbers are neither, and gathering each (a sort
        -- for every number's `user_ids`) cost more than these two probes.
        WITH holders AS (
            SELECT n.phone_number, n.user_id, min(n.created_at) AS held_from,
                   max(n.created_at) AS last_held_from,
                   bool_and(n.deleted_at IS NULL AND n.created_at IS NOT NULL) AS plain,
                   max(n.phone_number_hash) AS phone_number_hash,
                   max(n.phone_number_masked) AS phone_number_masked,
                   max(n.region_code) AS region_code
            FROM new_rows AS n
            WHERE n.phone_number IS NOT NULL
              AND (EXISTS (SELECT FROM clerk.phone_number_counts AS c
                           WHERE c.phone_number = n.phone_number AND c.phones > 1)
                   OR EXISTS (SELECT FROM clerk.phone_number_sharing AS k
                              WHERE k.phone_number = n.phone_number))
            GROUP BY n.phone_number, n.user_id
        ), added AS (
            SELECT h.phone_number, bool_and(h.plain) AS plain,
                   array_agg(h.user_id ORDER BY h.held_from, h.user_id) AS user_ids,
                   array_agg(h.last_held_from) AS last_held_froms,
                   min(h.held_from) AS first_from,
                   max(h.phone_number_hash) AS phone_number_hash,
                   max(h.phone_number_masked) AS phone_number_masked,
                   max(h.region_code) AS region_code
            FROM holders AS h
            GROUP BY h.phone_number
        ), appendable AS (
            SELECT a.*, k.first_deleted_at
            FROM added AS a
            JOIN clerk.phone_number_sharing AS k ON k.phone_number = a.phone_number
            -- the row's last holder's first holding, as the fold finds it
            CROSS JOIN LATERAL (
                SELECT min(coalesce(p.created_at, (SELECT min(h.effective_at)
                                                   FROM clerk.phone_number_history AS h
                                                   WHERE h.phone_number_id = p.id)))
                           AS held_from
                FROM clerk.phone_numbers AS p
                WHERE p.phone_number = k.phone_number
                  AND p.user_id = k.user_ids[cardinality(k.user_ids)]
                  -- a deleted phone holds nothing without its user, as in the fold
                  AND (p.deleted_at IS NULL
                       OR EXISTS (SELECT FROM clerk.users AS u WHERE u.id = p.user_id))
            ) AS last
            WHERE a.plain
              -- a row written before 0031 does not know its deletions until its next fold
              AND (k.deleted_users = 0 OR k.first_deleted_at IS NOT NULL)
              AND NOT k.user_ids && a.user_ids
              AND (a.first_from, a.user_ids[1])
                  > (last.held_from, k.user_ids[cardinality(k.user_ids)])
        ), appended AS (
            UPDATE clerk.phone_number_sharing AS k
            SET live_users = k.live_users + cardinality(a.user_ids),
                reheld_users = k.reheld_users
                    + (SELECT count(*) FROM unnest(a.last_held_froms) AS f(held_from)
                       WHERE f.held_from >= a.first_deleted_at),
                user_ids = k.user_ids || a.user_ids,
                phone_number_hash = greatest(k.phone_number_hash, a.phone_number_hash),
                phone_number_masked = greatest(k.phone_number_masked, a.phone_number_masked),
                region_code = greatest(k.region_code, a.region_code)
            FROM appendable AS a
            WHERE k.phone_number = a.phone_number
            RETURNING k.phone_number
        )
        SELECT array_agg(a.phone_number) INTO numbers
        FROM added AS a
        WHERE NOT EXISTS (SELECT FROM appended AS d WHERE d.phone_number = a.phone_number);
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT o.phone_number) INTO numbers
        FROM old_rows AS o WHERE o.phone_number IS NOT NULL;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH changed AS (
            SELECT o.phone_number AS old_number, n.phone_number AS new_number,
                   -- marked deleted, and nothing else the fold reads moved
                   o.deleted_at IS NULL AND n.deleted_at IS NOT NULL
                   AND (o.phone_number, o.phone_number_hash, o.region_code, o.user_id,
                        o.created_at)
                       IS NOT DISTINCT FROM
                       (n.phone_number, n.phone_number_hash, n.region_code, n.user_id,
                        n.created_at) AS retired
            FROM old_rows AS o
            FULL JOIN new_rows AS n ON n.id = o.id
            WHERE (o.phone_number, o.phone_number_hash, o.region_code, o.user_id,
                   o.created_at, o.deleted_at)
                  IS DISTINCT FROM
                  (n.phone_number, n.phone_number_hash, n.region_code, n.user_id,
                   n.created_at, n.deleted_at)
        ), shifts AS (
            SELECT old_number AS phone_number,
                   CASE WHEN old_number IS DISTINCT FROM new_number THEN -1 ELSE 0 END AS delta,
                   coalesce(retired, false) AS retired
            FROM changed
            UNION ALL
            SELECT new_number, 1, false FROM changed WHERE old_number IS DISTINCT FROM new_number
        ), touched AS (
            SELECT s.phone_number, sum(s.delta) AS delta, bool_and(s.retired) AS retired
            FROM shifts AS s WHERE s.phone_number IS NOT NULL
            GROUP BY s.phone_number
        )
        SELECT array_agg(t.phone_number), array_agg(t.phone_number) FILTER (WHERE t.delta = 0),
               array_agg(t.phone_number) FILTER (WHERE t.retired)
        INTO numbers, unlocked, deletions_only
        FROM touched AS t;
        IF deletions_only IS NOT NULL THEN
            -- Numbers whose phones were only marked deleted. The counts stay, so their
            -- rows are locked here, and read in the statement after.
            PERFORM clerk.phone_number_sharing_lock(unlocked);
            unlocked := NULL;
            WITH gone AS (
                SELECT n.phone_number, n.user_id, count(*) AS phones
                FROM new_rows AS n
                WHERE n.phone_number = ANY(deletions_only)
                  AND n.deleted_at IS NOT NULL
                  AND EXISTS (SELECT FROM old_rows AS o
                              WHERE o.id = n.id AND o.deleted_at IS NULL)
                GROUP BY n.phone_number, n.user_id
            ), holders AS (
                -- Each such holder now, from its own phones of the number: still live or
                -- not, and deleted (its user's deletion, which its deleted phones now
                -- read) or not. Plain when it had no deleted phone of the number before
                -- (so it was live and not deleted) and its user is there to read.
                SELECT g.phone_number, g.user_id,
                       bool_or(p.deleted_at IS NULL) AS live,
                       count(*) FILTER (WHERE p.deleted_at IS NOT NULL) = g.phones
                           AND u.id IS NOT NULL AS plain,
                       u.deleted_at
                FROM gone AS g
                JOIN clerk.phone_numbers AS p
                  ON p.phone_number = g.phone_number AND p.user_id = g.user_id
                LEFT JOIN clerk.users AS u ON u.id = g.user_id
                GROUP BY g.phone_number, g.user_id, g.phones, u.id, u.deleted_at
            ), shifted AS (
                SELECT h.phone_number, bool_and(h.plain) AS plain,
                       count(*) FILTER (WHERE NOT h.live) AS unlive,
                       count(h.deleted_at) AS deleted,
                       min(h.deleted_at) AS earliest
                FROM holders AS h
                GROUP BY h.phone_number
            ), counted AS (
                -- Deletions no earlier than the row's second leave the first two as they
                -- are, and with them everyone's standing, the deleted users' own included
                -- (reheld when they took the number at or after the first, as before).
                UPDATE clerk.phone_number_sharing AS k
                SET live_users = k.live_users - s.unlive,
                    deleted_users = k.deleted_users + s.deleted
                FROM shifted AS s
                WHERE k.phone_number = s.phone_number
                  AND s.plain
                  AND (s.deleted = 0 OR s.earliest >= k.second_deleted_at)
                  AND (k.live_users - s.unlive > 1 OR k.reheld_users > 0)
                RETURNING k.phone_number
            )
            SELECT array_agg(t.phone_number) INTO numbers
            FROM unnest(numbers) AS t(phone_number)
            WHERE NOT EXISTS (SELECT FROM counted AS c WHERE c.phone_number = t.phone_number);
        END IF;
    ELSE
        PERFORM clerk.phone_number_sharing_refill();
        RETURN NULL;
    END IF;
    PERFORM clerk.phone_number_sharing_refresh(numbers, unlocked);
    RETURN NULL;
END
$$;

-- A statement changed users: a change of `deleted_at`, or a removed user, changes the
-- numbers of their deleted phones (a live phone's holding never reads its user).
CREATE OR REPLACE FUNCTION clerk.users_shared()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    ids text[];
    numbers text[];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(n.id) INTO ids
        FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
        WHERE o.deleted_at IS DISTINCT FROM n.deleted_at;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.id) INTO ids FROM old_rows AS o;
    ELSE
        PERFORM clerk.phone_number_sharing_refill();
        RETURN NULL;
    END IF;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    -- an array, so that the phones are read through their user index whatever the planner
    -- guesses of the transition tables
    SELECT array_agg(DISTINCT p.phone_number) INTO numbers
    FROM clerk.phone_numbers AS p
    WHERE p.user_id = ANY(ids) AND p.phone_number IS NOT NULL AND p.deleted_at IS NOT NULL;
    PERFORM clerk.phone_number_sharing_refresh(numbers, numbers);
    RETURN NULL;
END
$$;

-- A statement added or removed history: a phone without `created_at` is held from its
-- earliest history row, so its number may change.
CREATE OR REPLACE FUNCTION clerk.phone_number_history_shared()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    ids text[];
    numbers text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT n.phone_number_id) INTO ids FROM new_rows AS n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT o.phone_number_id) INTO ids FROM old_rows AS o;
    ELSE
        PERFORM clerk.phone_number_sharing_refill();
        RETURN NULL;
    END IF;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    -- one probe of the phones' key per phone
    SELECT array_agg(DISTINCT p.phone_number) INTO numbers
    FROM clerk.phone_numbers AS p
    WHERE p.id = ANY(ids) AND p.created_at IS NULL AND p.phone_number IS NOT NULL;
    PERFORM clerk.phone_number_sharing_refresh(numbers, numbers);
    RETURN NULL;
END
$$;

-- The rows of the mirror already there, by the definition above. The locks hold off every
-- writer of the three tables until the triggers below are in place and this transaction
-- ends, so no write falls between the fill and the triggers.
LOCK TABLE clerk.phone_numbers, clerk.users, clerk.phone_number_history
    IN SHARE ROW EXCLUSIVE MODE;
SELECT clerk.phone_number_sharing_refill();

CREATE OR REPLACE TRIGGER phone_numbers_inserted_shared AFTER INSERT ON clerk.phone_numbers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_shared();
CREATE OR REPLACE TRIGGER phone_numbers_updated_shared AFTER UPDATE ON clerk.phone_numbers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_shared();
CREATE OR REPLACE TRIGGER phone_numbers_deleted_shared AFTER DELETE ON clerk.phone_numbers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_shared();
CREATE OR REPLACE TRIGGER phone_numbers_truncated_shared AFTER TRUNCATE ON clerk.phone_numbers
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_shared();
CREATE OR REPLACE TRIGGER users_updated_shared AFTER UPDATE ON clerk.users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.users_shared();
CREATE OR REPLACE TRIGGER users_deleted_shared AFTER DELETE ON clerk.users
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.users_shared();
CREATE OR REPLACE TRIGGER users_truncated_shared AFTER TRUNCATE ON clerk.users
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.users_shared();
CREATE OR REPLACE TRIGGER phone_number_history_inserted_shared
    AFTER INSERT ON clerk.phone_number_history
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_number_history_shared();
CREATE OR REPLACE TRIGGER phone_number_history_deleted_shared
    AFTER DELETE ON clerk.phone_number_history
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_number_history_shared();
CREATE OR REPLACE TRIGGER phone_number_history_truncated_shared
    AFTER TRUNCATE ON clerk.phone_number_history
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_number_history_shared();

GRANT SELECT ON clerk.phone_number_sharing_of_phones TO clerk_pii_reader;
COMMENT ON VIEW clerk.phone_number_sharing_of_phones IS
    'Which numbers do several live users hold, or did a new user take after a deletion, counted from the phones?';
