CREATE SCHEMA clerk;

CREATE FUNCTION clerk.mask_phone_number(raw text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
DECLARE
    digits text := regexp_replace(raw, '[^0-9]', '', 'g');
    cc int;
BEGIN
    IF left(btrim(raw), 1) <> '+' THEN
        cc := 0;
    ELSIF left(digits, 1) IN ('1', '7') THEN
        cc := 1;
    ELSIF left(digits, 2) IN (
        '20', '27', '30', '31', '32', '33', '34', '36', '39', '40', '41', '43',
        '44', '45', '46', '47', '48', '49', '51', '52', '53', '54', '55', '56',
        '57', '58', '60', '61', '62', '63', '64', '65', '66', '81', '82', '84',
        '86', '90', '91', '92', '93', '94', '95', '98') THEN
        cc := 2;
    ELSE
        cc := 3;
    END IF;
    IF length(digits) - cc < 3 THEN
        RETURN repeat('•', length(digits));
    END IF;
    RETURN CASE WHEN cc > 0 THEN '+' || left(digits, cc) || ' ' ELSE '' END
        || repeat('•', length(digits) - cc - 2) || right(digits, 2);
END
$$;

CREATE FUNCTION clerk.phone_facts_changed() RETURNS trigger
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

CREATE FUNCTION clerk.phone_number_counts_shift(numbers text[], deltas integer[]) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    emptied text[];
BEGIN
    WITH shifted AS (
        INSERT INTO clerk.phone_number_counts AS c (phone_number, phones)
        SELECT d.phone_number, sum(d.delta)
        FROM unnest(numbers, deltas) AS d(phone_number, delta)
        WHERE d.phone_number IS NOT NULL
        GROUP BY d.phone_number
        HAVING sum(d.delta) <> 0
        ORDER BY d.phone_number COLLATE "C"
        ON CONFLICT (phone_number) DO UPDATE SET phones = c.phones + EXCLUDED.phones
        RETURNING c.phone_number, c.phones
    )
    SELECT array_agg(s.phone_number) FILTER (WHERE s.phones <= 0) INTO emptied FROM shifted AS s;
    IF emptied IS NOT NULL THEN
        -- rows this statement wrote and still locks: no one else changed them since
        DELETE FROM clerk.phone_number_counts WHERE phone_number = ANY(emptied) AND phones <= 0;
    END IF;
END
$$;

CREATE FUNCTION clerk.phone_number_history_shared() RETURNS trigger
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

CREATE FUNCTION clerk.phone_number_sharing_lock(numbers text[]) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM 1 FROM clerk.phone_number_counts AS c
    WHERE c.phone_number = ANY(numbers)
    ORDER BY c.phone_number COLLATE "C"
    FOR UPDATE;
END
$$;

CREATE FUNCTION clerk.phone_number_sharing_of(of_numbers text[]) RETURNS TABLE(phone_number text, phone_number_hash text, phone_number_masked text, region_code text, live_users bigint, deleted_users bigint, reheld_users bigint, user_ids text[], first_deleted_at timestamp with time zone, second_deleted_at timestamp with time zone)
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

CREATE FUNCTION clerk.phone_number_sharing_refill() RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM clerk.phone_number_sharing;
    INSERT INTO clerk.phone_number_sharing SELECT * FROM clerk.phone_number_sharing_of_phones;
END
$$;

CREATE FUNCTION clerk.phone_number_sharing_refresh(numbers text[], unlocked text[]) RETURNS void
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

CREATE FUNCTION clerk.phone_numbers_as_of(at timestamp with time zone) RETURNS TABLE(id text, user_id text, phone_number_masked text, phone_number_hash text, region_code text, reserved_for_second_factor boolean, default_second_factor boolean, is_primary boolean, verification_status text, verification_strategy text, verification_attempts integer, verification_expire_at timestamp with time zone, linked_to jsonb, created_at timestamp with time zone, updated_at timestamp with time zone, deleted_at timestamp with time zone)
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

COMMENT ON FUNCTION clerk.phone_numbers_as_of(at timestamp with time zone) IS 'What did clerk.phone_numbers hold at a past moment (--as-of)?';

CREATE FUNCTION clerk.phone_numbers_as_of(at timestamp with time zone, for_user_id text) RETURNS TABLE(id text, user_id text, phone_number_masked text, phone_number_hash text, region_code text, reserved_for_second_factor boolean, default_second_factor boolean, is_primary boolean, verification_status text, verification_strategy text, verification_attempts integer, verification_expire_at timestamp with time zone, linked_to jsonb, created_at timestamp with time zone, updated_at timestamp with time zone, deleted_at timestamp with time zone)
    LANGUAGE sql STABLE
    AS $$
SELECT * FROM clerk.phone_numbers_as_of(phone_numbers_as_of.at) AS a
WHERE a.user_id = phone_numbers_as_of.for_user_id
$$;

COMMENT ON FUNCTION clerk.phone_numbers_as_of(at timestamp with time zone, for_user_id text) IS 'What did clerk.phone_numbers hold for one user (--user-id) at a past moment (--as-of)?';

CREATE FUNCTION clerk.phone_numbers_changed() RETURNS trigger
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

CREATE FUNCTION clerk.phone_numbers_counted() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM clerk.phone_number_counts_shift(array_agg(n.phone_number), array_agg(1))
        FROM new_rows AS n;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM clerk.phone_number_counts_shift(array_agg(o.phone_number), array_agg(-1))
        FROM old_rows AS o;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM clerk.phone_number_counts_shift(array_agg(r.phone_number), array_agg(r.delta))
        FROM (SELECT o.phone_number, -1 AS delta FROM old_rows AS o
              UNION ALL
              SELECT n.phone_number, 1 FROM new_rows AS n) AS r;
    ELSE
        DELETE FROM clerk.phone_number_counts;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION clerk.phone_numbers_shared() RETURNS trigger
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

CREATE FUNCTION clerk.refresh_sms_message_facts(keys text[], phone_ids text[] DEFAULT NULL::text[]) RETURNS void
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_custom_plan'
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

CREATE FUNCTION clerk.risky_phone_numbers(production boolean DEFAULT true) RETURNS TABLE(phone_number_id text, user_id text, phone_number_masked text, phone_number_hash text, region_code text, number_type text, is_test_number boolean, reserved_for_second_factor boolean, verification_status text, risk text)
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
SELECT p.id, p.user_id, p.phone_number_masked, p.phone_number_hash, p.region_code,
       p.number_type, p.is_test_number, p.reserved_for_second_factor, p.verification_status,
       concat_ws('; ',
                 CASE WHEN p.number_type IN ('premium_rate', 'shared_cost', 'toll_free',
                                             'pager', 'voip')
                      THEN replace(p.number_type, '_', '-') || ' number' END,
                 CASE WHEN risky_phone_numbers.production AND p.is_test_number
                      THEN 'Clerk test number in production' END,
                 CASE WHEN p.reserved_for_second_factor THEN 'a second factor' END)
FROM clerk.phone_numbers AS p
WHERE p.deleted_at IS NULL
  AND (p.number_type IN ('premium_rate', 'shared_cost', 'toll_free', 'pager', 'voip')
       OR (risky_phone_numbers.production AND p.is_test_number))
ORDER BY p.id
$$;

COMMENT ON FUNCTION clerk.risky_phone_numbers(production boolean) IS 'report_risky_phone_numbers of a development mirror (production => false) or a production one';

CREATE FUNCTION clerk.shared_phone_numbers() RETURNS TABLE(phone_number_hash text, phone_number_masked text, region_code text, live_users bigint, deleted_users bigint, reheld_users bigint, user_ids text[])
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET enable_seqscan TO 'off'
    AS $$
SELECT phone_number_hash, phone_number_masked, region_code, live_users, deleted_users,
       reheld_users, user_ids
FROM clerk.phone_number_sharing
ORDER BY live_users DESC, reheld_users DESC, phone_number_masked, user_ids[1], user_ids
$$;

COMMENT ON FUNCTION clerk.shared_phone_numbers() IS 'report_shared_phone_numbers, as a function that runs as its owner (it reads the raw numbers)';

CREATE FUNCTION clerk.sms_conversion() RETURNS TABLE(day date, region_code text, codes_sent bigint, numbers_sent_to bigint, numbers_verified bigint, conversion numeric)
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
SELECT d.day, d.region_code, d.sends, d.numbers_sent_to, d.numbers_verified, d.conversion
FROM clerk.sms_region_days AS d
ORDER BY d.day, d.region_code NULLS LAST
$$;

COMMENT ON FUNCTION clerk.sms_conversion() IS 'report_sms_conversion, as a function';

CREATE FUNCTION clerk.sms_message_facts(keys text[] DEFAULT NULL::text[]) RETURNS TABLE(id text, counts_number boolean, number_verified boolean)
    LANGUAGE plpgsql STABLE ROWS 10
    SET plan_cache_mode TO 'force_custom_plan'
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

COMMENT ON FUNCTION clerk.sms_message_facts(keys text[]) IS 'For each SMS ledger row, does it stand for its number on its day, and was that number verified?';

CREATE FUNCTION clerk.sms_message_facts_write(keys text[], phone_ids text[]) RETURNS TABLE(day date, region_code text, number_prefix text, sends integer, numbers integer, verified integer)
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_custom_plan'
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

CREATE FUNCTION clerk.sms_messages_changed() RETURNS trigger
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

CREATE FUNCTION clerk.sms_prefix_days_between(region text, prefix text, from_day date, to_day date) RETURNS TABLE(day date, sends integer, numbers_sent_to integer, numbers_verified integer)
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

CREATE FUNCTION clerk.sms_prefix_days_shift(days date[], regions text[], prefixes text[], sends integer[], numbers integer[], verified integer[]) RETURNS integer
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

CREATE FUNCTION clerk.sms_pumping(min_sends integer DEFAULT 20, min_jump numeric DEFAULT 5, min_drop numeric DEFAULT 0.3, max_new_conversion numeric DEFAULT 0.2) RETURNS TABLE(day date, region_code text, number_prefix text, sends bigint, numbers_sent_to bigint, numbers_verified bigint, conversion numeric, baseline_daily_sends numeric, baseline_conversion numeric, jump numeric, suspicious boolean, reason text)
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
WITH flagged AS (
    SELECT d.*,
           coalesce(d.sends >= sms_pumping.min_sends
                    AND d.jump >= sms_pumping.min_jump
                    AND CASE WHEN d.baseline_conversion IS NULL
                             THEN d.conversion <= sms_pumping.max_new_conversion
                             ELSE d.conversion <= d.baseline_conversion - sms_pumping.min_drop
                        END,
                    false) AS flag
    FROM clerk.sms_prefix_days AS d
)
SELECT day, region_code, number_prefix, sends::bigint, numbers_sent_to::bigint,
       numbers_verified::bigint, conversion, baseline_daily_sends, baseline_conversion, jump,
       flag,
       CASE WHEN NOT flag THEN NULL
            WHEN baseline_conversion IS NULL
            THEN format('%s sends from a prefix with none in the 28 days before;'
                        ' conversion %s', sends, conversion)
            ELSE format('%s sends, %s times the baseline of %s a day; conversion %s,'
                        ' down from %s', sends, jump, baseline_daily_sends, conversion,
                        baseline_conversion)
       END
FROM flagged
ORDER BY day, region_code NULLS LAST, number_prefix NULLS LAST
$$;

COMMENT ON FUNCTION clerk.sms_pumping(min_sends integer, min_jump numeric, min_drop numeric, max_new_conversion numeric) IS 'report_sms_pumping with thresholds of your own (min_sends, min_jump, min_drop, max_new_conversion)';

CREATE FUNCTION clerk.sms_verification_by_region_day(min_added integer DEFAULT 20, min_rise numeric DEFAULT 0.25, min_z numeric DEFAULT 4) RETURNS TABLE(day date, region_code text, added bigint, verified bigint, failed bigint, expired bigint, verification_rate numeric, unverified_share numeric, baseline_added bigint, baseline_unverified_share numeric, suspicious boolean)
    LANGUAGE sql STABLE PARALLEL SAFE
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

COMMENT ON FUNCTION clerk.sms_verification_by_region_day(min_added integer, min_rise numeric, min_z numeric) IS 'report_sms_verification_by_region_day with thresholds of your own (min_added, min_rise, min_z)';

CREATE FUNCTION clerk.time_to_verify_of_part(part integer) RETURNS TABLE(month date, region_code text, verified bigint, median_seconds numeric, p90_seconds numeric)
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
SELECT verified_month, first_verified_region_code, count(*),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_verify)::numeric, 3),
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds_to_verify)::numeric, 3)
FROM clerk.phone_facts
WHERE verified_month IS NOT NULL
  AND extract(month FROM verified_month)::integer % 3 = time_to_verify_of_part.part
GROUP BY verified_month, first_verified_region_code
$$;

CREATE FUNCTION clerk.users_shared() RETURNS trigger
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

CREATE TABLE clerk.console_operators (
    name text NOT NULL,
    password_hash text NOT NULL,
    generation integer DEFAULT 1 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    password_changed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT console_operators_name_check CHECK ((name ~ '^[a-z0-9][a-z0-9._@+-]{0,63}$'::text)),
    CONSTRAINT console_operators_password_hash_check CHECK ((password_hash ~~ '$argon2id$%'::text))
);

CREATE TABLE clerk.erased_users (
    user_id text NOT NULL,
    erased_at timestamp with time zone DEFAULT now() NOT NULL,
    reason text NOT NULL,
    CONSTRAINT erased_users_reason_check CHECK ((reason = ANY (ARRAY['request'::text, 'deleted'::text])))
);

CREATE TABLE clerk.phone_facts (
    phone_number_id text NOT NULL,
    user_id text NOT NULL,
    region_code text,
    first_seen_at timestamp with time zone NOT NULL,
    first_verified_at timestamp with time zone,
    first_verified_region_code text,
    ever_failed boolean NOT NULL,
    ever_expired boolean NOT NULL,
    ever_reserved boolean NOT NULL,
    added_day date NOT NULL,
    verified_month date,
    seconds_to_verify double precision,
    outcome text
);

CREATE TABLE clerk.phone_number_history (
    history_id bigint NOT NULL,
    phone_number_id text NOT NULL,
    user_id text NOT NULL,
    change text NOT NULL,
    phone_number text,
    region_code text,
    reserved_for_second_factor boolean NOT NULL,
    default_second_factor boolean NOT NULL,
    is_primary boolean NOT NULL,
    verification_status text,
    verification_strategy text,
    verification_attempts integer,
    verification_expire_at timestamp with time zone,
    linked_to jsonb DEFAULT '[]'::jsonb,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    deleted_at timestamp with time zone,
    svix_id text NOT NULL,
    effective_at timestamp with time zone NOT NULL,
    event_at timestamp with time zone NOT NULL,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    phone_number_masked text GENERATED ALWAYS AS (clerk.mask_phone_number(phone_number)) STORED,
    phone_number_hash text,
    valid_until timestamp with time zone,
    number_type text,
    is_valid_number boolean,
    is_test_number boolean,
    CONSTRAINT phone_number_history_change_check CHECK ((change = ANY (ARRAY['created'::text, 'updated'::text, 'deleted'::text])))
)
WITH (fillfactor='90');

CREATE VIEW clerk.phone_facts_of_history AS
 SELECT phone_number_id,
    min(user_id) AS user_id,
    min(region_code) AS region_code,
    min(effective_at) AS first_seen_at,
    min(effective_at) FILTER (WHERE ((verification_status = 'verified'::text) AND (change <> 'deleted'::text))) AS first_verified_at,
    (array_agg(region_code ORDER BY effective_at, event_at, (svix_id COLLATE "C")) FILTER (WHERE ((verification_status = 'verified'::text) AND (change <> 'deleted'::text))))[1] AS first_verified_region_code,
    COALESCE(bool_or((verification_status = 'failed'::text)), false) AS ever_failed,
    COALESCE(bool_or((verification_status = 'expired'::text)), false) AS ever_expired,
    bool_or(reserved_for_second_factor) AS ever_reserved,
    ((min(effective_at) AT TIME ZONE 'UTC'::text))::date AS added_day,
    (date_trunc('month'::text, (min(effective_at) FILTER (WHERE ((verification_status = 'verified'::text) AND (change <> 'deleted'::text))) AT TIME ZONE 'UTC'::text)))::date AS verified_month,
    (EXTRACT(epoch FROM (min(effective_at) FILTER (WHERE ((verification_status = 'verified'::text) AND (change <> 'deleted'::text))) - min(effective_at))))::double precision AS seconds_to_verify,
        CASE
            WHEN bool_or(((verification_status = 'verified'::text) AND (change <> 'deleted'::text))) THEN 'verified'::text
            WHEN bool_or((verification_status = 'failed'::text)) THEN 'failed'::text
            WHEN bool_or((verification_status = 'expired'::text)) THEN 'expired'::text
            ELSE NULL::text
        END AS outcome
   FROM phone_number_history
  GROUP BY phone_number_id;

COMMENT ON VIEW clerk.phone_facts_of_history IS 'What does each phone''s whole history say about it now (first seen, first verified, outcome)?';

CREATE VIEW clerk.phone_history_valid_until AS
 SELECT history_id,
    phone_number_id,
    lead(effective_at) OVER (PARTITION BY phone_number_id ORDER BY effective_at, event_at, (svix_id COLLATE "C")) AS valid_until,
    valid_until AS kept_valid_until
   FROM phone_number_history;

COMMENT ON VIEW clerk.phone_history_valid_until IS 'Until when did each phone history row hold?';

CREATE TABLE clerk.phone_number_counts (
    phone_number text NOT NULL,
    phones integer NOT NULL
);

CREATE TABLE clerk.phone_numbers (
    id text NOT NULL,
    user_id text NOT NULL,
    phone_number text,
    region_code text,
    reserved_for_second_factor boolean NOT NULL,
    default_second_factor boolean NOT NULL,
    is_primary boolean NOT NULL,
    verification_status text,
    verification_strategy text,
    verification_attempts integer,
    verification_expire_at timestamp with time zone,
    linked_to jsonb DEFAULT '[]'::jsonb,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    deleted_at timestamp with time zone,
    phone_number_masked text GENERATED ALWAYS AS (clerk.mask_phone_number(phone_number)) STORED,
    phone_number_hash text,
    number_type text,
    is_valid_number boolean,
    is_test_number boolean
);

CREATE VIEW clerk.phone_number_counts_of_phones AS
 SELECT phone_number,
    (count(*))::integer AS phones
   FROM phone_numbers
  WHERE (phone_number IS NOT NULL)
  GROUP BY phone_number;

COMMENT ON VIEW clerk.phone_number_counts_of_phones IS 'How many phone rows carry each number?';

ALTER TABLE clerk.phone_number_history ALTER COLUMN history_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME clerk.phone_number_history_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE clerk.phone_number_sharing (
    phone_number text NOT NULL,
    phone_number_hash text,
    phone_number_masked text,
    region_code text,
    live_users bigint NOT NULL,
    deleted_users bigint NOT NULL,
    reheld_users bigint NOT NULL,
    user_ids text[] NOT NULL,
    first_deleted_at timestamp with time zone,
    second_deleted_at timestamp with time zone,
    CONSTRAINT phone_number_sharing_check CHECK (((live_users > 1) OR (reheld_users > 0)))
);

CREATE VIEW clerk.phone_number_sharing_of_phones AS
 SELECT phone_number,
    phone_number_hash,
    phone_number_masked,
    region_code,
    live_users,
    deleted_users,
    reheld_users,
    user_ids,
    first_deleted_at,
    second_deleted_at
   FROM phone_number_sharing_of(ARRAY( SELECT phone_number
           FROM phone_number_counts
          WHERE (phones > 1))) phone_number_sharing_of(phone_number, phone_number_hash, phone_number_masked, region_code, live_users, deleted_users, reheld_users, user_ids, first_deleted_at, second_deleted_at);

COMMENT ON VIEW clerk.phone_number_sharing_of_phones IS 'Which numbers do several live users hold, or did a new user take after a deletion, counted from the phones?';

CREATE TABLE clerk.users (
    id text NOT NULL,
    primary_phone_number_id text,
    two_factor_enabled boolean,
    totp_enabled boolean,
    backup_code_enabled boolean,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    deleted_at timestamp with time zone,
    version_ms bigint NOT NULL,
    version_event_ms bigint NOT NULL,
    version_svix_id text NOT NULL,
    synced_at timestamp with time zone DEFAULT now() NOT NULL,
    primary_phone_problem text
);

CREATE VIEW clerk.report_integrity AS
 SELECT 'several_default_second_factors'::text AS kind,
    user_id,
    NULL::text AS phone_number_id,
    ((count(*) || ' phone numbers are default_second_factor: '::text) || string_agg(id, ', '::text ORDER BY id)) AS detail
   FROM phone_numbers p
  WHERE ((deleted_at IS NULL) AND default_second_factor AND (user_id IN ( SELECT user_id
           FROM phone_numbers d
          WHERE ((deleted_at IS NULL) AND default_second_factor)
          GROUP BY user_id
         HAVING (count(*) > 1))))
  GROUP BY user_id
UNION ALL
 SELECT 'default_not_reserved'::text AS kind,
    user_id,
    id AS phone_number_id,
    'default_second_factor but not reserved_for_second_factor'::text AS detail
   FROM phone_numbers p
  WHERE ((deleted_at IS NULL) AND default_second_factor AND (NOT reserved_for_second_factor))
UNION ALL
 SELECT 'reserved_not_verified'::text AS kind,
    user_id,
    id AS phone_number_id,
    ('reserved_for_second_factor but verification_status is '::text || COALESCE(verification_status, 'null'::text)) AS detail
   FROM phone_numbers p
  WHERE ((deleted_at IS NULL) AND reserved_for_second_factor AND (verification_status IS DISTINCT FROM 'verified'::text))
UNION ALL
 SELECT 'two_factor_without_factor'::text AS kind,
    id AS user_id,
    NULL::text AS phone_number_id,
    'two_factor_enabled with no phone reserved_for_second_factor, no TOTP, no backup codes'::text AS detail
   FROM users u
  WHERE ((deleted_at IS NULL) AND two_factor_enabled AND (totp_enabled IS NOT TRUE) AND (backup_code_enabled IS NOT TRUE) AND (NOT (EXISTS ( SELECT
           FROM phone_numbers p
          WHERE ((user_id = id) AND (deleted_at IS NULL) AND reserved_for_second_factor)))))
UNION ALL
 SELECT 'primary_phone_missing'::text AS kind,
    id AS user_id,
    primary_phone_number_id AS phone_number_id,
    primary_phone_problem AS detail
   FROM users u
  WHERE ((primary_phone_problem IS NOT NULL) AND (deleted_at IS NULL))
  ORDER BY 1, 2, 3 NULLS FIRST;

COMMENT ON VIEW clerk.report_integrity IS 'Where does the live mirror contradict itself or Clerk''s 2FA rules?';

CREATE VIEW clerk.report_phone_regions AS
 SELECT region_code,
    count(*) AS phone_numbers,
    count(*) FILTER (WHERE (verification_status = 'verified'::text)) AS verified,
    round(((count(*) FILTER (WHERE (verification_status = 'verified'::text)))::numeric / (NULLIF(count(*), 0))::numeric), 4) AS verified_share
   FROM phone_numbers p
  WHERE (deleted_at IS NULL)
  GROUP BY region_code
  ORDER BY (count(*)) DESC, region_code;

COMMENT ON VIEW clerk.report_phone_regions IS 'Where are the live phone numbers, and how many of them are verified?';

CREATE VIEW clerk.report_risky_phone_numbers AS
 SELECT phone_number_id,
    user_id,
    phone_number_masked,
    phone_number_hash,
    region_code,
    number_type,
    is_test_number,
    reserved_for_second_factor,
    verification_status,
    risk
   FROM risky_phone_numbers() risky_phone_numbers(phone_number_id, user_id, phone_number_masked, phone_number_hash, region_code, number_type, is_test_number, reserved_for_second_factor, verification_status, risk);

COMMENT ON VIEW clerk.report_risky_phone_numbers IS 'Which live numbers, second-factor ones included, are of a type that should not receive codes, or are Clerk test numbers in production?';

CREATE VIEW clerk.report_shared_phone_numbers AS
 SELECT phone_number_hash,
    phone_number_masked,
    region_code,
    live_users,
    deleted_users,
    reheld_users,
    user_ids
   FROM shared_phone_numbers() shared_phone_numbers(phone_number_hash, phone_number_masked, region_code, live_users, deleted_users, reheld_users, user_ids);

COMMENT ON VIEW clerk.report_shared_phone_numbers IS 'Which numbers do several live users hold, or did a new user take after a deletion?';

CREATE VIEW clerk.report_sms_conversion AS
 SELECT day,
    region_code,
    codes_sent,
    numbers_sent_to,
    numbers_verified,
    conversion
   FROM sms_conversion() sms_conversion(day, region_code, codes_sent, numbers_sent_to, numbers_verified, conversion);

COMMENT ON VIEW clerk.report_sms_conversion IS 'Per day and region, how many codes were sent by SMS, to how many numbers, and how many of those numbers were verified?';

CREATE VIEW clerk.report_sms_pumping AS
 SELECT day,
    region_code,
    number_prefix,
    sends,
    numbers_sent_to,
    numbers_verified,
    conversion,
    baseline_daily_sends,
    baseline_conversion,
    jump,
    suspicious,
    reason
   FROM sms_pumping() sms_pumping(day, region_code, number_prefix, sends, numbers_sent_to, numbers_verified, conversion, baseline_daily_sends, baseline_conversion, jump, suspicious, reason);

COMMENT ON VIEW clerk.report_sms_pumping IS 'Per day, region and number prefix, do the SMS sends jump above the prefix''s own baseline while conversion falls (SMS pumping)?';

CREATE VIEW clerk.report_sms_verification_by_region_day AS
 SELECT day,
    region_code,
    added,
    verified,
    failed,
    expired,
    verification_rate,
    unverified_share,
    baseline_added,
    baseline_unverified_share,
    suspicious
   FROM sms_verification_by_region_day() sms_verification_by_region_day(day, region_code, added, verified, failed, expired, verification_rate, unverified_share, baseline_added, baseline_unverified_share, suspicious);

COMMENT ON VIEW clerk.report_sms_verification_by_region_day IS 'Per region and day, how many numbers were added and verified; is it SMS pumping?';

CREATE TABLE clerk.webhook_events (
    svix_id text NOT NULL,
    event_type text NOT NULL,
    payload bytea,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    processed_at timestamp with time zone,
    user_id text,
    version_ms bigint,
    event_ms bigint,
    next_attempt_at timestamp with time zone,
    source text DEFAULT 'webhook'::text NOT NULL,
    CONSTRAINT webhook_events_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'processed'::text, 'ignored'::text, 'failed'::text, 'dead'::text])))
);

CREATE VIEW clerk.report_sync_health AS
 SELECT ( SELECT count(*) AS count
           FROM webhook_events
          WHERE (status = 'pending'::text)) AS pending,
    ( SELECT count(*) AS count
           FROM webhook_events
          WHERE (status = 'failed'::text)) AS failed,
    ( SELECT count(*) AS count
           FROM webhook_events
          WHERE (status = 'dead'::text)) AS dead,
    round(EXTRACT(epoch FROM (now() - ( SELECT min(received_at) AS min
           FROM webhook_events
          WHERE (status = 'pending'::text)))), 3) AS oldest_pending_seconds,
    ( SELECT max(received_at) AS max
           FROM webhook_events) AS last_received_at,
    ( SELECT count(*) AS count
           FROM webhook_events
          WHERE (received_at > (now() - '01:00:00'::interval))) AS received_last_hour;

COMMENT ON VIEW clerk.report_sync_health IS 'Is the sync keeping up (pending, failed, dead events, oldest pending, last received)?';

CREATE VIEW clerk.report_time_to_verify AS
 SELECT month,
    region_code,
    verified,
    median_seconds,
    p90_seconds
   FROM ( SELECT month,
            region_code,
            verified,
            median_seconds,
            p90_seconds
           FROM time_to_verify_of_part(0) time_to_verify_of_part(month, region_code, verified, median_seconds, p90_seconds)
        UNION ALL
         SELECT month,
            region_code,
            verified,
            median_seconds,
            p90_seconds
           FROM time_to_verify_of_part(1) time_to_verify_of_part(month, region_code, verified, median_seconds, p90_seconds)
        UNION ALL
         SELECT month,
            region_code,
            verified,
            median_seconds,
            p90_seconds
           FROM time_to_verify_of_part(2) time_to_verify_of_part(month, region_code, verified, median_seconds, p90_seconds)) parts
  ORDER BY month, region_code;

COMMENT ON VIEW clerk.report_time_to_verify IS 'How long does a number take to get verified, per month (UTC) and region?';

CREATE VIEW clerk.report_two_factor AS
 WITH user_counts AS (
         SELECT count(*) AS users,
            count(*) FILTER (WHERE two_factor_enabled) AS two_factor_users,
            count(*) FILTER (WHERE (two_factor_enabled AND totp_enabled)) AS with_totp,
            count(*) FILTER (WHERE (two_factor_enabled AND backup_code_enabled)) AS with_backup_codes
           FROM users
          WHERE (deleted_at IS NULL)
        ), phone_counts AS (
         SELECT count(DISTINCT user_id) FILTER (WHERE reserved_for_second_factor) AS with_reserved_phone,
            count(DISTINCT user_id) FILTER (WHERE default_second_factor) AS with_default_phone
           FROM (phone_numbers p
             JOIN users u ON ((id = user_id)))
          WHERE ((deleted_at IS NULL) AND (reserved_for_second_factor OR default_second_factor) AND two_factor_enabled AND (deleted_at IS NULL))
        ), counts AS (
         SELECT users,
            two_factor_users,
            with_totp,
            with_backup_codes,
            with_reserved_phone,
            with_default_phone
           FROM user_counts,
            phone_counts
        )
 SELECT users,
    two_factor_users,
    round(((two_factor_users)::numeric / (NULLIF(users, 0))::numeric), 4) AS two_factor_share,
    with_reserved_phone,
    round(((with_reserved_phone)::numeric / (NULLIF(two_factor_users, 0))::numeric), 4) AS with_reserved_phone_share,
    with_default_phone,
    round(((with_default_phone)::numeric / (NULLIF(two_factor_users, 0))::numeric), 4) AS with_default_phone_share,
    with_totp,
    round(((with_totp)::numeric / (NULLIF(two_factor_users, 0))::numeric), 4) AS with_totp_share,
    with_backup_codes,
    round(((with_backup_codes)::numeric / (NULLIF(two_factor_users, 0))::numeric), 4) AS with_backup_codes_share
   FROM counts;

COMMENT ON VIEW clerk.report_two_factor IS 'How many live users have 2FA on, and what second factors do they hold?';

CREATE TABLE clerk.user_factor_changes (
    user_id text NOT NULL,
    month date NOT NULL,
    live integer NOT NULL,
    two_factor integer NOT NULL,
    two_factor_on boolean NOT NULL,
    two_factor_off boolean NOT NULL,
    totp integer NOT NULL,
    totp_on boolean NOT NULL,
    totp_off boolean NOT NULL,
    backup_codes integer NOT NULL,
    backup_codes_on boolean NOT NULL,
    backup_codes_off boolean NOT NULL,
    phone integer NOT NULL,
    phone_on boolean NOT NULL,
    phone_off boolean NOT NULL,
    kind integer GENERATED ALWAYS AS (((((((live + 1) + (3 * (two_factor + 1))) + (9 * (totp + 1))) + (27 * (backup_codes + 1))) + (81 * (phone + 1))) + (243 * ((((((((two_factor_on)::integer + (2 * (two_factor_off)::integer)) + (4 * (totp_on)::integer)) + (8 * (totp_off)::integer)) + (16 * (backup_codes_on)::integer)) + (32 * (backup_codes_off)::integer)) + (64 * (phone_on)::integer)) + (128 * (phone_off)::integer))))) STORED NOT NULL,
    CONSTRAINT user_factor_changes_digits CHECK ((((live >= '-1'::integer) AND (live <= 1)) AND ((two_factor >= '-1'::integer) AND (two_factor <= 1)) AND ((totp >= '-1'::integer) AND (totp <= 1)) AND ((backup_codes >= '-1'::integer) AND (backup_codes <= 1)) AND ((phone >= '-1'::integer) AND (phone <= 1))))
);

CREATE VIEW clerk.report_two_factor_adoption AS
 WITH kinds AS (
         SELECT month,
            kind,
            count(*) AS n
           FROM user_factor_changes
          GROUP BY month, kind
        ), monthly AS (
         SELECT month,
            (sum((n * ((kind % 3) - 1))))::bigint AS live,
            (sum((n * (((kind / 3) % 3) - 1))))::bigint AS two_factor,
            (COALESCE(sum(n) FILTER (WHERE (((kind / 243) & 1) <> 0)), (0)::numeric))::bigint AS two_factor_on,
            (COALESCE(sum(n) FILTER (WHERE (((kind / 243) & 2) <> 0)), (0)::numeric))::bigint AS two_factor_off,
            (sum((n * (((kind / 9) % 3) - 1))))::bigint AS totp,
            (COALESCE(sum(n) FILTER (WHERE (((kind / 243) & 4) <> 0)), (0)::numeric))::bigint AS totp_on,
            (COALESCE(sum(n) FILTER (WHERE (((kind / 243) & 8) <> 0)), (0)::numeric))::bigint AS totp_off,
            (sum((n * (((kind / 27) % 3) - 1))))::bigint AS backup_codes,
            (COALESCE(sum(n) FILTER (WHERE (((kind / 243) & 16) <> 0)), (0)::numeric))::bigint AS backup_on,
            (COALESCE(sum(n) FILTER (WHERE (((kind / 243) & 32) <> 0)), (0)::numeric))::bigint AS backup_off,
            (sum((n * (((kind / 81) % 3) - 1))))::bigint AS phone,
            (COALESCE(sum(n) FILTER (WHERE (((kind / 243) & 64) <> 0)), (0)::numeric))::bigint AS phone_on,
            (COALESCE(sum(n) FILTER (WHERE (((kind / 243) & 128) <> 0)), (0)::numeric))::bigint AS phone_off
           FROM kinds
          GROUP BY month
        ), months AS (
         SELECT (generate_series((min(month))::timestamp with time zone, (max(month))::timestamp with time zone, '1 mon'::interval))::date AS month
           FROM monthly
        ), running AS (
         SELECT month,
            sum(COALESCE(live, (0)::bigint)) OVER w AS users,
            sum(COALESCE(two_factor, (0)::bigint)) OVER w AS two_factor_users,
            COALESCE(two_factor_on, (0)::bigint) AS two_factor_turned_on,
            COALESCE(two_factor_off, (0)::bigint) AS two_factor_turned_off,
            sum(COALESCE(totp, (0)::bigint)) OVER w AS totp_users,
            COALESCE(totp_on, (0)::bigint) AS totp_turned_on,
            COALESCE(totp_off, (0)::bigint) AS totp_turned_off,
            sum(COALESCE(backup_codes, (0)::bigint)) OVER w AS backup_codes_users,
            COALESCE(backup_on, (0)::bigint) AS backup_codes_turned_on,
            COALESCE(backup_off, (0)::bigint) AS backup_codes_turned_off,
            sum(COALESCE(phone, (0)::bigint)) OVER w AS phone_users,
            COALESCE(phone_on, (0)::bigint) AS phone_turned_on,
            COALESCE(phone_off, (0)::bigint) AS phone_turned_off
           FROM (months m
             LEFT JOIN monthly c USING (month))
          WINDOW w AS (ORDER BY month)
        )
 SELECT month,
    (users)::bigint AS users,
    (two_factor_users)::bigint AS two_factor_users,
    two_factor_turned_on,
    two_factor_turned_off,
    round((two_factor_users / NULLIF(users, (0)::numeric)), 4) AS two_factor_share,
    (totp_users)::bigint AS totp_users,
    totp_turned_on,
    totp_turned_off,
    (backup_codes_users)::bigint AS backup_codes_users,
    backup_codes_turned_on,
    backup_codes_turned_off,
    (phone_users)::bigint AS phone_users,
    phone_turned_on,
    phone_turned_off
   FROM running
  ORDER BY month;

COMMENT ON VIEW clerk.report_two_factor_adoption IS 'How did 2FA adoption (TOTP, backup codes, phone) move, per month (UTC)?';

CREATE VIEW clerk.report_verification_status AS
 SELECT verification_status,
    verification_strategy,
    count(*) AS phone_numbers,
    round(((count(*))::numeric / NULLIF(sum(count(*)) OVER (), (0)::numeric)), 4) AS share
   FROM phone_numbers p
  WHERE (deleted_at IS NULL)
  GROUP BY verification_status, verification_strategy
  ORDER BY (count(*)) DESC, verification_status, verification_strategy;

COMMENT ON VIEW clerk.report_verification_status IS 'How many live phone numbers are in each verification status and strategy?';

CREATE TABLE clerk.schema_migrations (
    version text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE clerk.schema_repeatables (
    path text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE clerk.sms_messages (
    id text NOT NULL,
    user_id text,
    phone_number_id text,
    slug text,
    status text,
    delivered_by_clerk boolean,
    created_at timestamp with time zone NOT NULL,
    phone_number text,
    phone_number_masked text GENERATED ALWAYS AS (clerk.mask_phone_number(phone_number)) STORED,
    phone_number_hash text,
    region_code text,
    number_prefix text,
    number_type text,
    is_valid_number boolean,
    is_test_number boolean,
    svix_id text NOT NULL,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    counts_number boolean DEFAULT false NOT NULL,
    number_verified boolean DEFAULT false NOT NULL
);

CREATE TABLE clerk.sms_prefix_days (
    day date NOT NULL,
    region_code text,
    number_prefix text,
    sends integer NOT NULL,
    numbers_sent_to integer NOT NULL,
    numbers_verified integer NOT NULL,
    base_sends integer DEFAULT 0 NOT NULL,
    base_numbers integer DEFAULT 0 NOT NULL,
    base_verified integer DEFAULT 0 NOT NULL,
    conversion numeric GENERATED ALWAYS AS (round(((numbers_verified)::numeric / (NULLIF(numbers_sent_to, 0))::numeric), 4)) STORED,
    baseline_daily_sends numeric GENERATED ALWAYS AS (round(((base_sends)::numeric / 28.0), 4)) STORED,
    baseline_conversion numeric GENERATED ALWAYS AS (round(((base_verified)::numeric / (NULLIF(base_numbers, 0))::numeric), 4)) STORED,
    jump numeric GENERATED ALWAYS AS (round(((sends)::numeric / GREATEST(((base_sends)::numeric / 28.0), (1)::numeric)), 2)) STORED
);

CREATE TABLE clerk.sms_region_days (
    day date NOT NULL,
    region_code text,
    sends bigint NOT NULL,
    numbers_sent_to bigint NOT NULL,
    numbers_verified bigint NOT NULL,
    conversion numeric GENERATED ALWAYS AS (round(((numbers_verified)::numeric / (NULLIF(numbers_sent_to, 0))::numeric), 4)) STORED
);

COMMENT ON TABLE clerk.sms_region_days IS 'Per UTC day and region: the sums of clerk.sms_prefix_days over its prefixes, which the writers keep';

CREATE TABLE clerk.sync_run_users (
    run_id bigint NOT NULL,
    user_id text NOT NULL
);

CREATE TABLE clerk.sync_runs (
    id bigint NOT NULL,
    kind text DEFAULT 'backfill'::text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    status text DEFAULT 'running'::text NOT NULL,
    pages integer DEFAULT 0 NOT NULL,
    users_seen integer DEFAULT 0 NOT NULL,
    users_changed integer DEFAULT 0 NOT NULL,
    next_offset integer DEFAULT 0 NOT NULL,
    error text,
    reconcile boolean DEFAULT false NOT NULL,
    tombstoned integer DEFAULT 0 NOT NULL,
    after_user_id text,
    CONSTRAINT sync_runs_kind_check CHECK ((kind = 'backfill'::text)),
    CONSTRAINT sync_runs_status_check CHECK ((status = ANY (ARRAY['running'::text, 'succeeded'::text, 'failed'::text, 'interrupted'::text])))
);

COMMENT ON COLUMN clerk.sync_runs.next_offset IS 'checkpoint of runs before cursor paging (0009); no longer written';

COMMENT ON COLUMN clerk.sync_runs.after_user_id IS 'checkpoint: id of the last user listed; the listing goes on with starting_after';

ALTER TABLE clerk.sync_runs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME clerk.sync_runs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE clerk.user_history (
    history_id bigint NOT NULL,
    user_id text NOT NULL,
    change text NOT NULL,
    primary_phone_number_id text,
    two_factor_enabled boolean,
    totp_enabled boolean,
    backup_code_enabled boolean,
    deleted_at timestamp with time zone,
    svix_id text NOT NULL,
    effective_at timestamp with time zone NOT NULL,
    event_at timestamp with time zone NOT NULL,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT user_history_change_check CHECK ((change = ANY (ARRAY['created'::text, 'updated'::text, 'deleted'::text])))
);

CREATE VIEW clerk.user_factor_changes_of_history AS
 WITH user_rows AS (
         SELECT user_id,
            svix_id,
            effective_at,
            event_at,
            change,
            ((change <> 'deleted'::text))::integer AS live,
            (((change <> 'deleted'::text) AND (two_factor_enabled IS TRUE)))::integer AS two_factor,
            (((change <> 'deleted'::text) AND (totp_enabled IS TRUE)))::integer AS totp,
            (((change <> 'deleted'::text) AND (backup_code_enabled IS TRUE)))::integer AS backup_codes
           FROM user_history
        ), user_flips AS (
         SELECT user_id,
            svix_id,
            effective_at,
            (change = ANY (ARRAY['created'::text, 'deleted'::text])) AS lifecycle,
            (live - COALESCE(lag(live) OVER w, 0)) AS live,
            (two_factor - COALESCE(lag(two_factor) OVER w, 0)) AS two_factor,
            (totp - COALESCE(lag(totp) OVER w, 0)) AS totp,
            (backup_codes - COALESCE(lag(backup_codes) OVER w, 0)) AS backup_codes
           FROM user_rows
          WINDOW w AS (PARTITION BY user_id ORDER BY effective_at, event_at, (svix_id COLLATE "C"))
        ), phone_rows AS (
         SELECT user_id,
            phone_number_id,
            svix_id,
            effective_at,
            event_at,
            ((reserved_for_second_factor AND (change <> 'deleted'::text)))::integer AS reserved
           FROM phone_number_history
        ), phone_deltas AS (
         SELECT user_id,
            svix_id,
            effective_at,
            event_at,
            sum((reserved - COALESCE(lag_reserved, 0))) AS delta
           FROM ( SELECT user_id,
                    phone_number_id,
                    svix_id,
                    effective_at,
                    event_at,
                    reserved,
                    lag(reserved) OVER (PARTITION BY user_id, phone_number_id ORDER BY effective_at, event_at, (svix_id COLLATE "C")) AS lag_reserved
                   FROM phone_rows) p
          GROUP BY user_id, svix_id, effective_at, event_at
         HAVING (sum((reserved - COALESCE(lag_reserved, 0))) <> 0)
        ), phone_on AS (
         SELECT user_id,
            svix_id,
            effective_at,
            event_at,
            ((sum(delta) OVER w > (0)::numeric))::integer AS phone
           FROM phone_deltas
          WINDOW w AS (PARTITION BY user_id ORDER BY effective_at, event_at, (svix_id COLLATE "C"))
        ), phone_flips AS (
         SELECT user_id,
            svix_id,
            effective_at,
            (phone - COALESCE(lag(phone) OVER (PARTITION BY user_id ORDER BY effective_at, event_at, (svix_id COLLATE "C")), 0)) AS phone
           FROM phone_on
        ), flips AS (
         SELECT user_id,
            effective_at,
            lifecycle,
            live,
            two_factor,
            totp,
            backup_codes,
            0 AS phone
           FROM user_flips
          WHERE ((live <> 0) OR (two_factor <> 0) OR (totp <> 0) OR (backup_codes <> 0))
        UNION ALL
         SELECT user_id,
            effective_at,
            (user_id IS NOT NULL),
            0,
            0,
            0,
            0,
            phone
           FROM (phone_flips f
             LEFT JOIN user_history l ON (((user_id = user_id) AND (svix_id = svix_id) AND (change = ANY (ARRAY['created'::text, 'deleted'::text])))))
          WHERE (phone <> 0)
        )
 SELECT user_id,
    (date_trunc('month'::text, (effective_at AT TIME ZONE 'UTC'::text)))::date AS month,
    (sum(live))::integer AS live,
    (sum(two_factor))::integer AS two_factor,
    bool_or(((two_factor > 0) AND (NOT lifecycle))) AS two_factor_on,
    bool_or(((two_factor < 0) AND (NOT lifecycle))) AS two_factor_off,
    (sum(totp))::integer AS totp,
    bool_or(((totp > 0) AND (NOT lifecycle))) AS totp_on,
    bool_or(((totp < 0) AND (NOT lifecycle))) AS totp_off,
    (sum(backup_codes))::integer AS backup_codes,
    bool_or(((backup_codes > 0) AND (NOT lifecycle))) AS backup_codes_on,
    bool_or(((backup_codes < 0) AND (NOT lifecycle))) AS backup_codes_off,
    (sum(phone))::integer AS phone,
    bool_or(((phone > 0) AND (NOT lifecycle))) AS phone_on,
    bool_or(((phone < 0) AND (NOT lifecycle))) AS phone_off
   FROM flips
  GROUP BY user_id, ((date_trunc('month'::text, (effective_at AT TIME ZONE 'UTC'::text)))::date);

COMMENT ON VIEW clerk.user_factor_changes_of_history IS 'How did each user''s 2FA factors change, per month (UTC)?';

ALTER TABLE clerk.user_history ALTER COLUMN history_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME clerk.user_history_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE VIEW clerk.users_primary_phone_problem AS
 SELECT id,
    primary_phone_number_id,
        CASE
            WHEN (primary_phone_number_id IS NULL) THEN NULL::text
            WHEN (id IS NULL) THEN 'primary_phone_number_id is not in the mirror'::text
            WHEN (user_id <> id) THEN 'primary_phone_number_id belongs to another user'::text
            WHEN (deleted_at IS NOT NULL) THEN ('primary_phone_number_id was deleted at '::text || to_char((deleted_at AT TIME ZONE 'UTC'::text), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'::text))
            ELSE NULL::text
        END AS primary_phone_problem
   FROM (users u
     LEFT JOIN phone_numbers p ON ((id = primary_phone_number_id)));

COMMENT ON VIEW clerk.users_primary_phone_problem IS 'What, if anything, is wrong with each user''s primary phone number?';

ALTER TABLE ONLY clerk.console_operators
    ADD CONSTRAINT console_operators_pkey PRIMARY KEY (name);

ALTER TABLE ONLY clerk.erased_users
    ADD CONSTRAINT erased_users_pkey PRIMARY KEY (user_id);

ALTER TABLE ONLY clerk.phone_facts
    ADD CONSTRAINT phone_facts_pkey PRIMARY KEY (phone_number_id);

ALTER TABLE ONLY clerk.phone_number_counts
    ADD CONSTRAINT phone_number_counts_pkey PRIMARY KEY (phone_number);

ALTER TABLE ONLY clerk.phone_number_history
    ADD CONSTRAINT phone_number_history_phone_number_id_svix_id_key UNIQUE (phone_number_id, svix_id);

ALTER TABLE ONLY clerk.phone_number_history
    ADD CONSTRAINT phone_number_history_pkey PRIMARY KEY (history_id);

ALTER TABLE ONLY clerk.phone_number_sharing
    ADD CONSTRAINT phone_number_sharing_pkey PRIMARY KEY (phone_number);

ALTER TABLE ONLY clerk.phone_numbers
    ADD CONSTRAINT phone_numbers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY clerk.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY clerk.schema_repeatables
    ADD CONSTRAINT schema_repeatables_pkey PRIMARY KEY (path);

ALTER TABLE ONLY clerk.sms_messages
    ADD CONSTRAINT sms_messages_pkey PRIMARY KEY (id);

ALTER TABLE ONLY clerk.sms_messages
    ADD CONSTRAINT sms_messages_svix_id_key UNIQUE (svix_id);

ALTER TABLE ONLY clerk.sms_prefix_days
    ADD CONSTRAINT sms_prefix_days_key UNIQUE NULLS NOT DISTINCT (region_code, number_prefix, day);

ALTER TABLE ONLY clerk.sms_region_days
    ADD CONSTRAINT sms_region_days_key UNIQUE NULLS NOT DISTINCT (day, region_code);

ALTER TABLE ONLY clerk.sync_run_users
    ADD CONSTRAINT sync_run_users_pkey PRIMARY KEY (run_id, user_id);

ALTER TABLE ONLY clerk.sync_runs
    ADD CONSTRAINT sync_runs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY clerk.user_factor_changes
    ADD CONSTRAINT user_factor_changes_pkey PRIMARY KEY (user_id, month);

ALTER TABLE ONLY clerk.user_history
    ADD CONSTRAINT user_history_pkey PRIMARY KEY (history_id);

ALTER TABLE ONLY clerk.user_history
    ADD CONSTRAINT user_history_user_id_svix_id_key UNIQUE (user_id, svix_id);

ALTER TABLE ONLY clerk.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

ALTER TABLE ONLY clerk.webhook_events
    ADD CONSTRAINT webhook_events_pkey PRIMARY KEY (svix_id);

CREATE INDEX phone_facts_added_idx ON clerk.phone_facts USING btree (region_code, added_day, outcome);

CREATE INDEX phone_facts_reserved_idx ON clerk.phone_facts USING btree (phone_number_id) WHERE ever_reserved;

CREATE INDEX phone_facts_verified_part_idx ON clerk.phone_facts USING btree ((((EXTRACT(month FROM verified_month))::integer % 3)), verified_month, first_verified_region_code, seconds_to_verify) WHERE (verified_month IS NOT NULL);

CREATE INDEX phone_number_counts_shared_idx ON clerk.phone_number_counts USING btree (phone_number) WHERE (phones > 1);

CREATE INDEX phone_number_history_effective_brin ON clerk.phone_number_history USING brin (effective_at);

CREATE INDEX phone_number_history_phone_idx ON clerk.phone_number_history USING btree (phone_number_id, effective_at);

CREATE INDEX phone_number_history_unclassified_idx ON clerk.phone_number_history USING btree (phone_number_id) WHERE ((number_type IS NULL) AND (phone_number IS NOT NULL));

CREATE INDEX phone_number_history_user_idx ON clerk.phone_number_history USING btree (user_id, effective_at);

CREATE INDEX phone_number_sharing_report_idx ON clerk.phone_number_sharing USING btree (live_users DESC, reheld_users DESC, phone_number_masked, (user_ids[1]));

CREATE INDEX phone_numbers_number_idx ON clerk.phone_numbers USING btree (phone_number, user_id) WHERE (phone_number IS NOT NULL);

CREATE INDEX phone_numbers_risky_idx ON clerk.phone_numbers USING btree (id) INCLUDE (user_id, phone_number_masked, phone_number_hash, region_code, number_type, is_test_number, reserved_for_second_factor, verification_status) WHERE ((deleted_at IS NULL) AND ((number_type = ANY (ARRAY['premium_rate'::text, 'shared_cost'::text, 'toll_free'::text, 'pager'::text, 'voip'::text])) OR is_test_number));

CREATE INDEX phone_numbers_second_factor_idx ON clerk.phone_numbers USING btree (user_id, id) INCLUDE (default_second_factor, reserved_for_second_factor, verification_status) WHERE ((deleted_at IS NULL) AND (default_second_factor OR reserved_for_second_factor));

CREATE INDEX phone_numbers_unclassified_idx ON clerk.phone_numbers USING btree (id) WHERE ((number_type IS NULL) AND (phone_number IS NOT NULL));

CREATE INDEX phone_numbers_user_idx ON clerk.phone_numbers USING btree (user_id);

CREATE INDEX sms_messages_created_idx ON clerk.sms_messages USING btree (created_at, region_code);

CREATE INDEX sms_messages_number_idx ON clerk.sms_messages USING btree (phone_number) WHERE (phone_number IS NOT NULL);

CREATE INDEX sms_messages_phone_id_idx ON clerk.sms_messages USING btree (phone_number_id) WHERE (phone_number_id IS NOT NULL);

CREATE INDEX sms_messages_user_idx ON clerk.sms_messages USING btree (user_id) WHERE (user_id IS NOT NULL);

CREATE INDEX sms_prefix_days_report_idx ON clerk.sms_prefix_days USING btree (day, region_code, number_prefix) INCLUDE (sends, numbers_sent_to, numbers_verified, conversion, baseline_daily_sends, baseline_conversion, jump);

CREATE INDEX user_factor_changes_kind_idx ON clerk.user_factor_changes USING btree (month, kind);

CREATE INDEX user_history_user_idx ON clerk.user_history USING btree (user_id, effective_at);

CREATE INDEX users_deleted_at_idx ON clerk.users USING btree (deleted_at) WHERE (deleted_at IS NOT NULL);

CREATE INDEX users_primary_phone_number_idx ON clerk.users USING btree (primary_phone_number_id);

CREATE INDEX users_primary_phone_problem_idx ON clerk.users USING btree (id) WHERE ((primary_phone_problem IS NOT NULL) AND (deleted_at IS NULL));

CREATE INDEX webhook_events_closed_idx ON clerk.webhook_events USING btree (processed_at) INCLUDE (status) WHERE (status = ANY (ARRAY['processed'::text, 'ignored'::text]));

CREATE INDEX webhook_events_pending_idx ON clerk.webhook_events USING btree (received_at) WHERE (status = 'pending'::text);

CREATE INDEX webhook_events_purgeable_idx ON clerk.webhook_events USING btree (processed_at) WHERE ((payload IS NOT NULL) AND (status = ANY (ARRAY['processed'::text, 'ignored'::text])));

CREATE INDEX webhook_events_received_idx ON clerk.webhook_events USING btree (received_at, svix_id);

CREATE INDEX webhook_events_type_idx ON clerk.webhook_events USING btree (event_type, received_at, svix_id);

CREATE INDEX webhook_events_unsettled_idx ON clerk.webhook_events USING btree (status, received_at) WHERE (status = ANY (ARRAY['failed'::text, 'dead'::text]));

CREATE INDEX webhook_events_user_idx ON clerk.webhook_events USING btree (user_id, version_ms);

CREATE STATISTICS clerk.phone_facts_verified_part ON (EXTRACT(month FROM verified_month)::integer % 3) FROM clerk.phone_facts;

CREATE TRIGGER phone_facts_deleted AFTER DELETE ON clerk.phone_facts REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_facts_changed();

CREATE TRIGGER phone_facts_inserted AFTER INSERT ON clerk.phone_facts REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_facts_changed();

CREATE TRIGGER phone_facts_updated AFTER UPDATE ON clerk.phone_facts REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_facts_changed();

CREATE TRIGGER phone_number_history_deleted_shared AFTER DELETE ON clerk.phone_number_history REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_number_history_shared();

CREATE TRIGGER phone_number_history_inserted_shared AFTER INSERT ON clerk.phone_number_history REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_number_history_shared();

CREATE TRIGGER phone_number_history_truncated_shared AFTER TRUNCATE ON clerk.phone_number_history FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_number_history_shared();

CREATE TRIGGER phone_numbers_deleted AFTER DELETE ON clerk.phone_numbers REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_changed();

CREATE TRIGGER phone_numbers_deleted_counted AFTER DELETE ON clerk.phone_numbers REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_counted();

CREATE TRIGGER phone_numbers_deleted_shared AFTER DELETE ON clerk.phone_numbers REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_shared();

CREATE TRIGGER phone_numbers_inserted AFTER INSERT ON clerk.phone_numbers REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_changed();

CREATE TRIGGER phone_numbers_inserted_counted AFTER INSERT ON clerk.phone_numbers REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_counted();

CREATE TRIGGER phone_numbers_inserted_shared AFTER INSERT ON clerk.phone_numbers REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_shared();

CREATE TRIGGER phone_numbers_truncated_counted AFTER TRUNCATE ON clerk.phone_numbers FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_counted();

CREATE TRIGGER phone_numbers_truncated_shared AFTER TRUNCATE ON clerk.phone_numbers FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_shared();

CREATE TRIGGER phone_numbers_updated AFTER UPDATE ON clerk.phone_numbers REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_changed();

CREATE TRIGGER phone_numbers_updated_counted AFTER UPDATE ON clerk.phone_numbers REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_counted();

CREATE TRIGGER phone_numbers_updated_shared AFTER UPDATE ON clerk.phone_numbers REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_shared();

CREATE TRIGGER sms_messages_deleted AFTER DELETE ON clerk.sms_messages REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.sms_messages_changed();

CREATE TRIGGER sms_messages_inserted AFTER INSERT ON clerk.sms_messages REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.sms_messages_changed();

CREATE TRIGGER sms_messages_updated AFTER UPDATE ON clerk.sms_messages REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.sms_messages_changed();

CREATE TRIGGER users_deleted_shared AFTER DELETE ON clerk.users REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.users_shared();

CREATE TRIGGER users_truncated_shared AFTER TRUNCATE ON clerk.users FOR EACH STATEMENT EXECUTE FUNCTION clerk.users_shared();

CREATE TRIGGER users_updated_shared AFTER UPDATE ON clerk.users REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clerk.users_shared();

ALTER TABLE ONLY clerk.sync_run_users
    ADD CONSTRAINT sync_run_users_run_id_fkey FOREIGN KEY (run_id) REFERENCES clerk.sync_runs(id) ON DELETE CASCADE;

GRANT USAGE ON SCHEMA clerk TO clerk_reporting;
GRANT USAGE ON SCHEMA clerk TO clerk_pii_reader;

GRANT ALL ON FUNCTION clerk.phone_numbers_as_of(at timestamp with time zone) TO clerk_reporting;

GRANT ALL ON FUNCTION clerk.phone_numbers_as_of(at timestamp with time zone, for_user_id text) TO clerk_reporting;

GRANT ALL ON FUNCTION clerk.risky_phone_numbers(production boolean) TO clerk_reporting;

REVOKE ALL ON FUNCTION clerk.shared_phone_numbers() FROM PUBLIC;
GRANT ALL ON FUNCTION clerk.shared_phone_numbers() TO clerk_reporting;

REVOKE ALL ON FUNCTION clerk.sms_conversion() FROM PUBLIC;
GRANT ALL ON FUNCTION clerk.sms_conversion() TO clerk_reporting;

GRANT ALL ON FUNCTION clerk.sms_message_facts(keys text[]) TO clerk_pii_reader;

REVOKE ALL ON FUNCTION clerk.sms_pumping(min_sends integer, min_jump numeric, min_drop numeric, max_new_conversion numeric) FROM PUBLIC;
GRANT ALL ON FUNCTION clerk.sms_pumping(min_sends integer, min_jump numeric, min_drop numeric, max_new_conversion numeric) TO clerk_reporting;

GRANT ALL ON FUNCTION clerk.sms_verification_by_region_day(min_added integer, min_rise numeric, min_z numeric) TO clerk_reporting;

REVOKE ALL ON FUNCTION clerk.time_to_verify_of_part(part integer) FROM PUBLIC;
GRANT ALL ON FUNCTION clerk.time_to_verify_of_part(part integer) TO clerk_reporting;

GRANT SELECT ON TABLE clerk.erased_users TO clerk_pii_reader;

GRANT SELECT ON TABLE clerk.phone_facts TO clerk_reporting;

GRANT SELECT ON TABLE clerk.phone_number_history TO clerk_pii_reader;

GRANT SELECT(history_id) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(phone_number_id) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(user_id) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(change) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(region_code) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(reserved_for_second_factor) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(default_second_factor) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(is_primary) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(verification_status) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(verification_strategy) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(verification_attempts) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(verification_expire_at) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(linked_to) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(created_at) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(updated_at) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(deleted_at) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(svix_id) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(effective_at) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(event_at) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(recorded_at) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(phone_number_masked) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(phone_number_hash) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(valid_until) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(number_type) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(is_valid_number) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT(is_test_number) ON TABLE clerk.phone_number_history TO clerk_reporting;

GRANT SELECT ON TABLE clerk.phone_facts_of_history TO clerk_reporting;

GRANT SELECT ON TABLE clerk.phone_history_valid_until TO clerk_reporting;

GRANT SELECT ON TABLE clerk.phone_numbers TO clerk_pii_reader;

GRANT SELECT(id) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(user_id) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(region_code) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(reserved_for_second_factor) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(default_second_factor) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(is_primary) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(verification_status) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(verification_strategy) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(verification_attempts) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(verification_expire_at) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(linked_to) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(created_at) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(updated_at) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(deleted_at) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(phone_number_masked) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(phone_number_hash) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(number_type) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(is_valid_number) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT(is_test_number) ON TABLE clerk.phone_numbers TO clerk_reporting;

GRANT SELECT ON TABLE clerk.phone_number_counts_of_phones TO clerk_pii_reader;

GRANT SELECT ON TABLE clerk.phone_number_sharing_of_phones TO clerk_pii_reader;

GRANT SELECT ON TABLE clerk.users TO clerk_reporting;
GRANT SELECT ON TABLE clerk.users TO clerk_pii_reader;

GRANT SELECT ON TABLE clerk.report_integrity TO clerk_reporting;

GRANT SELECT ON TABLE clerk.report_phone_regions TO clerk_reporting;

GRANT SELECT ON TABLE clerk.report_risky_phone_numbers TO clerk_reporting;

GRANT SELECT ON TABLE clerk.report_shared_phone_numbers TO clerk_reporting;

GRANT SELECT ON TABLE clerk.report_sms_conversion TO clerk_reporting;

GRANT SELECT ON TABLE clerk.report_sms_pumping TO clerk_reporting;

GRANT SELECT ON TABLE clerk.report_sms_verification_by_region_day TO clerk_reporting;

GRANT SELECT ON TABLE clerk.report_sync_health TO clerk_reporting;

GRANT SELECT ON TABLE clerk.report_time_to_verify TO clerk_reporting;

GRANT SELECT ON TABLE clerk.report_two_factor TO clerk_reporting;

GRANT SELECT ON TABLE clerk.user_factor_changes TO clerk_reporting;

GRANT SELECT ON TABLE clerk.report_two_factor_adoption TO clerk_reporting;

GRANT SELECT ON TABLE clerk.report_verification_status TO clerk_reporting;

GRANT SELECT ON TABLE clerk.schema_repeatables TO clerk_reporting;

GRANT SELECT ON TABLE clerk.sms_messages TO clerk_pii_reader;

GRANT SELECT(id) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(user_id) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(phone_number_id) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(slug) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(status) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(delivered_by_clerk) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(created_at) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(phone_number_masked) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(phone_number_hash) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(region_code) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(number_type) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(is_valid_number) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(is_test_number) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(svix_id) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(recorded_at) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(counts_number) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT(number_verified) ON TABLE clerk.sms_messages TO clerk_reporting;

GRANT SELECT ON TABLE clerk.sms_prefix_days TO clerk_reporting;

GRANT SELECT ON TABLE clerk.sms_region_days TO clerk_reporting;

GRANT SELECT ON TABLE clerk.sync_run_users TO clerk_reporting;

GRANT SELECT ON TABLE clerk.sync_runs TO clerk_reporting;

GRANT SELECT ON TABLE clerk.user_history TO clerk_reporting;

GRANT SELECT ON TABLE clerk.user_factor_changes_of_history TO clerk_reporting;

GRANT SELECT ON TABLE clerk.users_primary_phone_problem TO clerk_reporting;

ALTER DEFAULT PRIVILEGES FOR ROLE owner IN SCHEMA clerk GRANT SELECT ON TABLES TO clerk_reporting;
