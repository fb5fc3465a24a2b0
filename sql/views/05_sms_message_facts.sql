-- clerk.sms_message_facts() (function), over which clerk.refresh_sms_message_facts and
-- the triggers of the SMS ledger, the phone facts and the phones keep the ledger's facts
--
-- Question: For each SMS ledger row, does it stand for its number on its day, and was that number verified?
--
-- Columns:
--   id: the ledger row (`clerk.sms_messages.id`).
--   counts_number: whether the row is the one that counts its number for its day, region
--     and prefix (the first by id among the rows sent to that number then).
--   number_verified: whether the mirror has seen that number verified, by any of the
--     day's rows sent to it: its phone (`phone_number_id`) reached `verified` in its
--     history, or any phone the mirror holds with that number did.
--
-- Empty mirror: no rows.
--
-- The one definition of the ledger's `counts_number` and `number_verified` columns, of
-- `clerk.sms_prefix_days`, which `sms_pumping` reads instead of joining every send to the
-- facts and grouping it by number, and of `clerk.sms_region_days`, its sums by day and
-- region, which `sms_conversion` reads (migration 0032). Each of its days also keeps
-- its baseline (`base_*`: the same sums over the prefix's 28 days before it, migration
-- 0026), so that `sms_pumping` runs no window: `sms_prefix_days_shift` moves the baselines
-- of the 28 days after each day it changes and gives a new day its own. A number is the
-- raw number, else (erased, or never told) the message's phone id, else the message
-- itself. `keys`
-- limits it to the rows sent to those numbers (all of each one's rows, through the
-- ledger's number and phone id indexes); NULL means every row. The triggers of migration
-- 0021 recompute it, in the same transaction, for the numbers a write to the ledger,
-- `clerk.phone_facts` or `clerk.phone_numbers` may change; the model test compares the
-- columns against it. It reads raw numbers with the rights of whoever calls it.

CREATE OR REPLACE FUNCTION clerk.sms_message_facts(keys text[] DEFAULT NULL)
RETURNS TABLE (id text, counts_number boolean, number_verified boolean)
LANGUAGE plpgsql STABLE
-- What a caller's plan expects of it: the rows of a write's few numbers. Postgres's guess
-- of a thousand made sms_message_facts_write join them to a ledger of 15,000 rows by a full
-- scan, twice a write (22 ms, and more as the ledger grew), wherever sequential scans were
-- on: every writer but the drain (an erasure, a backfill, classify). NULL's plans read
-- every row by hash joins all the same (0032).
ROWS 10
-- a plan for the keys given: NULL reads every row by hash joins, a few keys use indexes
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH sent AS (
        SELECT s.id, s.created_at, s.region_code, s.number_prefix, s.phone_number,
               s.phone_number_id, coalesce(s.phone_number, s.phone_number_id, s.id) AS number_key
        FROM clerk.sms_messages AS s
        WHERE keys IS NULL
           OR ((s.phone_number = ANY(keys) OR s.phone_number_id = ANY(keys) OR s.id = ANY(keys))
               AND coalesce(s.phone_number, s.phone_number_id, s.id) = ANY(keys))
    ), verified_numbers AS (
        SELECT DISTINCT p.phone_number
        FROM clerk.phone_numbers AS p
        JOIN clerk.phone_facts AS f ON f.phone_number_id = p.id
        WHERE p.phone_number IS NOT NULL AND f.first_verified_at IS NOT NULL
          AND (keys IS NULL OR p.phone_number = ANY(keys))
    ), judged AS (
        SELECT r.id, r.created_at, r.region_code, r.number_prefix, r.number_key,
               (f.first_verified_at IS NOT NULL OR v.phone_number IS NOT NULL) AS verified
        FROM sent AS r
        LEFT JOIN clerk.phone_facts AS f ON f.phone_number_id = r.phone_number_id
        LEFT JOIN verified_numbers AS v ON v.phone_number = r.phone_number
    )
    SELECT j.id,
           j.id COLLATE "C" = min(j.id COLLATE "C") OVER g,
           bool_or(j.verified) OVER g
    FROM judged AS j
    WINDOW g AS (PARTITION BY (j.created_at AT TIME ZONE 'UTC')::date, j.region_code,
                              j.number_prefix, j.number_key);
END
$$;

-- A prefix's day rows from one day to another. A NULL region or prefix matches NULL, as in
-- the key (NULLS NOT DISTINCT), and each case reads the key's index.
CREATE OR REPLACE FUNCTION clerk.sms_prefix_days_between(
    region text, prefix text, from_day date, to_day date
) RETURNS TABLE (day date, sends integer, numbers_sent_to integer, numbers_verified integer)
LANGUAGE sql STABLE
AS $$
SELECT p.day, p.sends, p.numbers_sent_to, p.numbers_verified
FROM clerk.sms_prefix_days AS p
WHERE p.region_code = region AND p.number_prefix = prefix
  AND p.day BETWEEN from_day AND to_day
UNION ALL
SELECT p.day, p.sends, p.numbers_sent_to, p.numbers_verified
FROM clerk.sms_prefix_days AS p
WHERE region IS NULL AND p.region_code IS NULL AND p.number_prefix = prefix
  AND p.day BETWEEN from_day AND to_day
UNION ALL
SELECT p.day, p.sends, p.numbers_sent_to, p.numbers_verified
FROM clerk.sms_prefix_days AS p
WHERE prefix IS NULL AND p.region_code = region AND p.number_prefix IS NULL
  AND p.day BETWEEN from_day AND to_day
UNION ALL
SELECT p.day, p.sends, p.numbers_sent_to, p.numbers_verified
FROM clerk.sms_prefix_days AS p
WHERE region IS NULL AND prefix IS NULL AND p.region_code IS NULL AND p.number_prefix IS NULL
  AND p.day BETWEEN from_day AND to_day
$$;

-- Adds deltas to clerk.sms_prefix_days (a key may come more than once) and to the baselines
-- of the 28 days after each (base_*: a day's prefix over the 28 days before it), gives a
-- new day its baseline, drops the days left with no send, and says how many days it
-- shifted; first, the same to clerk.sms_region_days (no baselines). A new day's baseline
-- reads the days before it, which another writer may be changing, so writers take each
-- prefix in turn: an advisory lock per prefix, held to the commit, taken in the order of
-- the lock keys before any prefix row (under a shared lock of all prefixes, which a writer
-- of more than 32 takes alone instead); then the rows, in the key's order.
CREATE OR REPLACE FUNCTION clerk.sms_prefix_days_shift(
    days date[], regions text[], prefixes text[], sends integer[], numbers integer[],
    verified integer[]
) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    keys bigint[];
    added tid[];
    emptied tid[];
    shifted integer;
BEGIN
    -- Each day and region first, the same deltas, in the key's order. A writer of the same
    -- region's day waits here for the one before it to commit, before it takes any prefix
    -- (in its first shift of a transaction), so the prefixes it is about to take stay
    -- free for the one it waits for. A day and region left with no send goes, as its
    -- prefixes do.
    WITH rolled AS (
        INSERT INTO clerk.sms_region_days AS r
            (day, region_code, sends, numbers_sent_to, numbers_verified)
        SELECT d.day, d.region_code, sum(d.sends), sum(d.numbers), sum(d.verified)
        FROM unnest(days, regions, sends, numbers, verified)
             AS d(day, region_code, sends, numbers, verified)
        GROUP BY d.day, d.region_code
        HAVING (sum(d.sends), sum(d.numbers), sum(d.verified)) <> (0, 0, 0)
        ORDER BY d.day, d.region_code
        ON CONFLICT (day, region_code) DO UPDATE SET
            sends = r.sends + EXCLUDED.sends,
            numbers_sent_to = r.numbers_sent_to + EXCLUDED.numbers_sent_to,
            numbers_verified = r.numbers_verified + EXCLUDED.numbers_verified
        RETURNING r.ctid, r.sends
    )
    SELECT array_agg(rolled.ctid) FILTER (WHERE rolled.sends = 0) INTO emptied FROM rolled;
    IF emptied IS NOT NULL THEN
        DELETE FROM clerk.sms_region_days WHERE ctid = ANY(emptied);
    END IF;
    SELECT array_agg(l.k ORDER BY l.k) INTO keys
    FROM (SELECT DISTINCT hashtextextended(
                     'sms prefix ' || coalesce(u.r, '-') || ' ' || coalesce(u.p, '-'), 0) AS k
          FROM unnest(regions, prefixes) AS u(r, p)) AS l;
    IF cardinality(keys) > 32 THEN
        -- Many prefixes (a burst, a refresh): every prefix at once, one lock, not one lock
        -- each (Postgres's lock table has room for about 64 per transaction).
        PERFORM pg_advisory_xact_lock(hashtextextended('sms prefixes', 0));
    ELSIF cardinality(keys) > 0 THEN
        PERFORM pg_advisory_xact_lock_shared(hashtextextended('sms prefixes', 0));
        PERFORM count(pg_advisory_xact_lock(k)) FROM unnest(keys) AS k;
    END IF;
    WITH delta AS (
        SELECT d.day, d.region_code, d.number_prefix, sum(d.sends) AS sends,
               sum(d.numbers) AS numbers, sum(d.verified) AS verified
        FROM unnest(days, regions, prefixes, sends, numbers, verified)
             AS d(day, region_code, number_prefix, sends, numbers, verified)
        GROUP BY d.day, d.region_code, d.number_prefix
    ), moved AS (
        SELECT k.day, k.region_code, k.number_prefix, k.sends, k.numbers, k.verified,
               0 AS base_sends, 0 AS base_numbers, 0 AS base_verified
        FROM delta AS k
        UNION ALL
        -- the prefix's days after it that take it into their baseline
        SELECT f.day, k.region_code, k.number_prefix, 0, 0, 0, k.sends, k.numbers, k.verified
        FROM delta AS k
        CROSS JOIN LATERAL clerk.sms_prefix_days_between(
            k.region_code, k.number_prefix, k.day + 1, k.day + 28) AS f
        WHERE (k.sends, k.numbers, k.verified) <> (0, 0, 0)
    ), shifted AS (
        INSERT INTO clerk.sms_prefix_days AS p
            (day, region_code, number_prefix, sends, numbers_sent_to, numbers_verified,
             base_sends, base_numbers, base_verified)
        SELECT m.day, m.region_code, m.number_prefix, sum(m.sends), sum(m.numbers),
               sum(m.verified), sum(m.base_sends), sum(m.base_numbers), sum(m.base_verified)
        FROM moved AS m
        GROUP BY m.region_code, m.number_prefix, m.day
        ORDER BY m.region_code, m.number_prefix, m.day
        ON CONFLICT (region_code, number_prefix, day) DO UPDATE SET
            sends = p.sends + EXCLUDED.sends,
            numbers_sent_to = p.numbers_sent_to + EXCLUDED.numbers_sent_to,
            numbers_verified = p.numbers_verified + EXCLUDED.numbers_verified,
            base_sends = p.base_sends + EXCLUDED.base_sends,
            base_numbers = p.base_numbers + EXCLUDED.base_numbers,
            base_verified = p.base_verified + EXCLUDED.base_verified
        RETURNING p.ctid, p.sends, p.xmax = 0 AS inserted
    )
    SELECT array_agg(ctid) FILTER (WHERE shifted.sends = 0),
           array_agg(ctid) FILTER (WHERE shifted.inserted AND shifted.sends <> 0), count(*)
    INTO emptied, added, shifted
    FROM shifted;
    IF emptied IS NOT NULL THEN
        DELETE FROM clerk.sms_prefix_days WHERE ctid = ANY(emptied);
    END IF;
    -- a new day: its baseline from the days before it, as they are now
    IF added IS NOT NULL THEN
        UPDATE clerk.sms_prefix_days AS p
        SET (base_sends, base_numbers, base_verified) = (
            SELECT coalesce(sum(b.sends), 0), coalesce(sum(b.numbers_sent_to), 0),
                   coalesce(sum(b.numbers_verified), 0)
            FROM clerk.sms_prefix_days_between(
                p.region_code, p.number_prefix, p.day - 28, p.day - 1) AS b)
        WHERE p.ctid = ANY(added);
    END IF;
    RETURN shifted;
END
$$;

-- Recomputes the facts of every ledger row sent to these numbers (keys) or through these
-- phones (phone_ids), writes those that changed, and returns what that moves in
-- clerk.sms_prefix_days, for the caller to shift together with its own changes.
CREATE OR REPLACE FUNCTION clerk.sms_message_facts_write(keys text[], phone_ids text[])
RETURNS TABLE (day date, region_code text, number_prefix text, sends integer,
               numbers integer, verified integer)
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
DECLARE
    wanted text[];
BEGIN
    wanted := ARRAY(
        SELECT DISTINCT k
        FROM unnest(coalesce(keys, '{}') || ARRAY(
                 SELECT coalesce(s.phone_number, s.phone_number_id, s.id)
                 FROM clerk.sms_messages AS s
                 WHERE s.phone_number_id = ANY(phone_ids))) AS k
        WHERE k IS NOT NULL);
    IF cardinality(wanted) = 0 THEN
        RETURN;
    END IF;
    -- the ledger's trigger leaves alone the writes made here
    PERFORM set_config('clerk.sms_facts_refresh', 'on', true);
    RETURN QUERY
    WITH changed AS (
        SELECT s.id, (s.created_at AT TIME ZONE 'UTC')::date AS day, s.region_code,
               s.number_prefix, s.counts_number AS was_counted,
               s.counts_number AND s.number_verified AS was_verified,
               f.counts_number, f.number_verified
        FROM clerk.sms_message_facts(wanted) AS f
        JOIN clerk.sms_messages AS s ON s.id = f.id
        WHERE (s.counts_number, s.number_verified)
              IS DISTINCT FROM (f.counts_number, f.number_verified)
    ), written AS (
        UPDATE clerk.sms_messages AS s
        SET counts_number = c.counts_number, number_verified = c.number_verified
        FROM changed AS c
        WHERE s.id = c.id
    )
    SELECT c.day, c.region_code, c.number_prefix, 0,
           (c.counts_number::int - c.was_counted::int)::integer,
           ((c.counts_number AND c.number_verified)::int - c.was_verified::int)::integer
    FROM changed AS c;
    PERFORM set_config('clerk.sms_facts_refresh', 'off', true);
END
$$;

-- Recomputes the facts of every ledger row sent to these numbers (keys) or through these
-- phones (phone_ids), and shifts clerk.sms_prefix_days by what changed; both NULL: all
-- rows, and the sums (of prefixes, then of regions) and baselines again from the ledger.
CREATE OR REPLACE FUNCTION clerk.refresh_sms_message_facts(keys text[], phone_ids text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
AS $$
BEGIN
    IF keys IS NULL AND phone_ids IS NULL THEN
        -- every prefix: no shift may write between the sums' recount and their merge
        PERFORM pg_advisory_xact_lock(hashtextextended('sms prefixes', 0));
        PERFORM set_config('clerk.sms_facts_refresh', 'on', true);
        UPDATE clerk.sms_messages AS s
        SET counts_number = f.counts_number, number_verified = f.number_verified
        FROM clerk.sms_message_facts(NULL) AS f
        WHERE f.id = s.id
          AND (s.counts_number, s.number_verified) IS DISTINCT FROM (f.counts_number, f.number_verified);
        PERFORM set_config('clerk.sms_facts_refresh', 'off', true);
        -- The sums and baselines by their definition, written where they differ: a migrate
        -- that runs this file again on a mirror whose sums are right writes none of them.
        -- (A DELETE and INSERT of every row left sms_prefix_days_report_idx three times its
        -- size, and sms_pumping three times slower, until a REINDEX; 0032.) A NULL region
        -- or prefix is never '', so the keys compare by hash.
        WITH fresh AS MATERIALIZED (
            SELECT g.day, g.region_code, g.number_prefix, g.sends, g.numbers, g.verified,
                   coalesce(sum(g.sends) OVER w, 0) AS base_sends,
                   coalesce(sum(g.numbers) OVER w, 0) AS base_numbers,
                   coalesce(sum(g.verified) OVER w, 0) AS base_verified
            FROM (SELECT (s.created_at AT TIME ZONE 'UTC')::date AS day, s.region_code,
                         s.number_prefix, count(*) AS sends,
                         count(*) FILTER (WHERE s.counts_number) AS numbers,
                         count(*) FILTER (WHERE s.counts_number AND s.number_verified) AS verified
                  FROM clerk.sms_messages AS s
                  GROUP BY 1, 2, 3) AS g
            WINDOW w AS (PARTITION BY g.region_code, g.number_prefix ORDER BY g.day
                         RANGE BETWEEN interval '28 days' PRECEDING AND interval '1 day' PRECEDING)
        ), gone AS (
            DELETE FROM clerk.sms_prefix_days AS p
            WHERE NOT EXISTS (
                SELECT FROM fresh AS f
                WHERE f.day = p.day AND coalesce(f.region_code, '') = coalesce(p.region_code, '')
                  AND coalesce(f.number_prefix, '') = coalesce(p.number_prefix, ''))
        )
        -- in the report's order, as days mostly arrive
        INSERT INTO clerk.sms_prefix_days AS p
            (day, region_code, number_prefix, sends, numbers_sent_to, numbers_verified,
             base_sends, base_numbers, base_verified)
        SELECT * FROM fresh AS f
        ORDER BY f.day, f.region_code NULLS LAST, f.number_prefix NULLS LAST
        ON CONFLICT (region_code, number_prefix, day) DO UPDATE SET
            sends = EXCLUDED.sends,
            numbers_sent_to = EXCLUDED.numbers_sent_to,
            numbers_verified = EXCLUDED.numbers_verified,
            base_sends = EXCLUDED.base_sends,
            base_numbers = EXCLUDED.base_numbers,
            base_verified = EXCLUDED.base_verified
        WHERE (p.sends, p.numbers_sent_to, p.numbers_verified, p.base_sends, p.base_numbers,
               p.base_verified)
              IS DISTINCT FROM (EXCLUDED.sends, EXCLUDED.numbers_sent_to,
                                EXCLUDED.numbers_verified, EXCLUDED.base_sends,
                                EXCLUDED.base_numbers, EXCLUDED.base_verified);
        -- and their sums by day and region, the same way
        WITH fresh AS MATERIALIZED (
            SELECT p.day, p.region_code, sum(p.sends) AS sends,
                   sum(p.numbers_sent_to) AS numbers, sum(p.numbers_verified) AS verified
            FROM clerk.sms_prefix_days AS p
            GROUP BY p.day, p.region_code
        ), gone AS (
            DELETE FROM clerk.sms_region_days AS r
            WHERE NOT EXISTS (
                SELECT FROM fresh AS f
                WHERE f.day = r.day AND coalesce(f.region_code, '') = coalesce(r.region_code, ''))
        )
        INSERT INTO clerk.sms_region_days AS r
            (day, region_code, sends, numbers_sent_to, numbers_verified)
        SELECT * FROM fresh AS f
        ORDER BY f.day, f.region_code NULLS LAST
        ON CONFLICT (day, region_code) DO UPDATE SET
            sends = EXCLUDED.sends,
            numbers_sent_to = EXCLUDED.numbers_sent_to,
            numbers_verified = EXCLUDED.numbers_verified
        WHERE (r.sends, r.numbers_sent_to, r.numbers_verified)
              IS DISTINCT FROM (EXCLUDED.sends, EXCLUDED.numbers_sent_to,
                                EXCLUDED.numbers_verified);
    ELSE
        PERFORM clerk.sms_prefix_days_shift(
            array_agg(c.day), array_agg(c.region_code), array_agg(c.number_prefix),
            array_agg(c.sends), array_agg(c.numbers), array_agg(c.verified))
        FROM clerk.sms_message_facts_write(keys, phone_ids) AS c
        HAVING count(*) > 0;
    END IF;
END
$$;

-- The ledger written (insert, the upsert of an earlier event, erasure, classify): its rows
-- move between the sums, and their numbers' facts are recomputed.
CREATE OR REPLACE FUNCTION clerk.sms_messages_changed()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF current_setting('clerk.sms_facts_refresh', true) = 'on' THEN
        RETURN NULL;
    END IF;
    -- The rows' own move and their numbers' recomputed facts, in one shift, after the
    -- ledger's rows: every path takes the ledger's rows first, then the sums'.
    IF TG_OP = 'INSERT' THEN
        PERFORM clerk.sms_prefix_days_shift(
            array_agg(d.day), array_agg(d.region_code), array_agg(d.number_prefix),
            array_agg(d.sends), array_agg(d.numbers), array_agg(d.verified))
        FROM (SELECT (n.created_at AT TIME ZONE 'UTC')::date AS day, n.region_code,
                     n.number_prefix, 1 AS sends, n.counts_number::int AS numbers,
                     (n.counts_number AND n.number_verified)::int AS verified
              FROM new_rows AS n
              UNION ALL
              SELECT * FROM clerk.sms_message_facts_write(
                  ARRAY(SELECT coalesce(n.phone_number, n.phone_number_id, n.id)
                        FROM new_rows AS n), NULL)) AS d;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM clerk.sms_prefix_days_shift(
            array_agg(d.day), array_agg(d.region_code), array_agg(d.number_prefix),
            array_agg(d.sends), array_agg(d.numbers), array_agg(d.verified))
        FROM (SELECT (o.created_at AT TIME ZONE 'UTC')::date AS day, o.region_code,
                     o.number_prefix, -1 AS sends, -(o.counts_number::int) AS numbers,
                     -((o.counts_number AND o.number_verified)::int) AS verified
              FROM old_rows AS o
              UNION ALL
              SELECT * FROM clerk.sms_message_facts_write(
                  ARRAY(SELECT coalesce(o.phone_number, o.phone_number_id, o.id)
                        FROM old_rows AS o), NULL)) AS d;
    ELSE
        PERFORM clerk.sms_prefix_days_shift(
            array_agg(d.day), array_agg(d.region_code), array_agg(d.number_prefix),
            array_agg(d.sends), array_agg(d.numbers), array_agg(d.verified))
        FROM (SELECT (o.created_at AT TIME ZONE 'UTC')::date AS day, o.region_code,
                     o.number_prefix, -1 AS sends, -(o.counts_number::int) AS numbers,
                     -((o.counts_number AND o.number_verified)::int) AS verified
              FROM old_rows AS o
              UNION ALL
              SELECT (n.created_at AT TIME ZONE 'UTC')::date, n.region_code, n.number_prefix,
                     1, n.counts_number::int, (n.counts_number AND n.number_verified)::int
              FROM new_rows AS n
              UNION ALL
              SELECT * FROM clerk.sms_message_facts_write(
                  ARRAY(SELECT coalesce(o.phone_number, o.phone_number_id, o.id)
                        FROM old_rows AS o
                        UNION
                        SELECT coalesce(n.phone_number, n.phone_number_id, n.id)
                        FROM new_rows AS n), NULL)) AS d;
    END IF;
    RETURN NULL;
END
$$;

-- A phone's first verification found or lost: the facts of the rows sent through it or
-- to its number.
CREATE OR REPLACE FUNCTION clerk.phone_facts_changed()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    ids text[];
BEGIN
    -- a mirror without SMS (a backfill, most writes of a new mirror) has nothing to keep
    IF NOT EXISTS (SELECT FROM clerk.sms_messages) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        ids := ARRAY(SELECT n.phone_number_id FROM new_rows AS n
                     WHERE n.first_verified_at IS NOT NULL);
    ELSIF TG_OP = 'DELETE' THEN
        ids := ARRAY(SELECT o.phone_number_id FROM old_rows AS o
                     WHERE o.first_verified_at IS NOT NULL);
    ELSE
        ids := ARRAY(SELECT n.phone_number_id
                     FROM new_rows AS n JOIN old_rows AS o USING (phone_number_id)
                     WHERE (n.first_verified_at IS NULL) <> (o.first_verified_at IS NULL));
    END IF;
    IF cardinality(ids) > 0 THEN
        PERFORM clerk.refresh_sms_message_facts(
            ARRAY(SELECT p.phone_number FROM clerk.phone_numbers AS p
                  WHERE p.id = ANY(ids) AND p.phone_number IS NOT NULL),
            ids);
    END IF;
    RETURN NULL;
END
$$;

-- A verified phone's number added, changed or removed: the facts of the rows sent to it.
CREATE OR REPLACE FUNCTION clerk.phone_numbers_changed()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    numbers text[];
BEGIN
    IF NOT EXISTS (SELECT FROM clerk.sms_messages) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        numbers := ARRAY(SELECT n.phone_number FROM new_rows AS n
                         JOIN clerk.phone_facts AS f ON f.phone_number_id = n.id
                         WHERE n.phone_number IS NOT NULL AND f.first_verified_at IS NOT NULL);
    ELSIF TG_OP = 'DELETE' THEN
        numbers := ARRAY(SELECT o.phone_number FROM old_rows AS o
                         JOIN clerk.phone_facts AS f ON f.phone_number_id = o.id
                         WHERE o.phone_number IS NOT NULL AND f.first_verified_at IS NOT NULL);
    ELSE
        numbers := ARRAY(SELECT unnest(ARRAY[o.phone_number, n.phone_number])
                         FROM new_rows AS n JOIN old_rows AS o USING (id)
                         JOIN clerk.phone_facts AS f ON f.phone_number_id = n.id
                         WHERE n.phone_number IS DISTINCT FROM o.phone_number
                           AND f.first_verified_at IS NOT NULL);
    END IF;
    IF cardinality(numbers) > 0 THEN
        PERFORM clerk.refresh_sms_message_facts(numbers);
    END IF;
    RETURN NULL;
END
$$;

-- The facts of the rows already in the ledger, by the definition above.
SELECT clerk.refresh_sms_message_facts(NULL);

CREATE OR REPLACE TRIGGER sms_messages_inserted AFTER INSERT ON clerk.sms_messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.sms_messages_changed();
CREATE OR REPLACE TRIGGER sms_messages_updated AFTER UPDATE ON clerk.sms_messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.sms_messages_changed();
CREATE OR REPLACE TRIGGER sms_messages_deleted AFTER DELETE ON clerk.sms_messages
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.sms_messages_changed();
CREATE OR REPLACE TRIGGER phone_facts_inserted AFTER INSERT ON clerk.phone_facts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_facts_changed();
CREATE OR REPLACE TRIGGER phone_facts_updated AFTER UPDATE ON clerk.phone_facts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_facts_changed();
CREATE OR REPLACE TRIGGER phone_facts_deleted AFTER DELETE ON clerk.phone_facts
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_facts_changed();
CREATE OR REPLACE TRIGGER phone_numbers_inserted AFTER INSERT ON clerk.phone_numbers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_changed();
CREATE OR REPLACE TRIGGER phone_numbers_updated AFTER UPDATE ON clerk.phone_numbers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_changed();
CREATE OR REPLACE TRIGGER phone_numbers_deleted AFTER DELETE ON clerk.phone_numbers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_changed();

GRANT EXECUTE ON FUNCTION clerk.sms_message_facts(text[]) TO clerk_pii_reader;
COMMENT ON FUNCTION clerk.sms_message_facts(text[]) IS
    'For each SMS ledger row, does it stand for its number on its day, and was that number verified?';
