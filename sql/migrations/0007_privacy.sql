-- Why: analysts count and join phone numbers but never need to read one, and a data
-- subject may ask us to forget them. So clerk_reporting loses the raw phone_number
-- columns and reads a masked form (calling code and last two digits) and a keyed hash
-- instead; clerk_pii_reader keeps full read access for the few who need it. Erasure
-- sets the identifying columns to NULL (hence the dropped NOT NULLs) and leaves a
-- tombstone in clerk.erased_users, which the inbox and the worker consult so that an
-- erased user never comes back.

-- '+44 ••••••••23': the ITU calling code (1 to 3 digits, told apart by its first digits),
-- bullets for the national number, its last two digits. A value without '+' keeps only
-- its last two digits; one too short to hide anything is all bullets. IMMUTABLE so that
-- it can feed a generated column; PL/pgSQL, since every phone and history row written
-- computes it: 2.5 µs a row, where the same rules as one SQL query with a CTE took 17.
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

-- phone_number_hash is HMAC-SHA256 (hex) under CLERK_MIRROR_PII_KEY, written by the
-- worker (the key never reaches the database); NULL when no key is set. The masked form
-- is computed here, so existing rows get it now and erasure clears it with the number.
ALTER TABLE clerk.phone_numbers
    ALTER COLUMN phone_number DROP NOT NULL,
    ALTER COLUMN linked_to DROP NOT NULL,
    ADD COLUMN phone_number_masked text
        GENERATED ALWAYS AS (clerk.mask_phone_number(phone_number)) STORED,
    ADD COLUMN phone_number_hash text;

ALTER TABLE clerk.phone_number_history
    ALTER COLUMN phone_number DROP NOT NULL,
    ALTER COLUMN linked_to DROP NOT NULL,
    ADD COLUMN phone_number_masked text
        GENERATED ALWAYS AS (clerk.mask_phone_number(phone_number)) STORED,
    ADD COLUMN phone_number_hash text;

-- One row per user whose personal data was erased, kept for good: the inbox stores a
-- later event of theirs without its payload, and the worker ignores it.
CREATE TABLE clerk.erased_users (
    user_id   text        PRIMARY KEY,
    erased_at timestamptz NOT NULL DEFAULT now(),
    reason    text        NOT NULL CHECK (reason IN ('request', 'deleted'))
);

-- Who asked to be forgotten is not the analysts' business (0002's default privileges
-- would grant it).
REVOKE SELECT ON clerk.erased_users FROM clerk_reporting;

-- The automatic erasure looks for users deleted long enough ago.
CREATE INDEX users_deleted_at_idx ON clerk.users (deleted_at) WHERE deleted_at IS NOT NULL;

-- Roles are cluster-wide: another database on this server may have created it already,
-- possibly at this very moment (as in 0002).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clerk_pii_reader') THEN
        CREATE ROLE clerk_pii_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- Column privileges: a table-wide SELECT would cover phone_number, so it goes, and every
-- other column is granted by name. A column a later migration adds to these two tables
-- is not readable by clerk_reporting until that migration grants it.
REVOKE SELECT ON clerk.phone_numbers, clerk.phone_number_history FROM clerk_reporting;
GRANT SELECT (id, user_id, phone_number_masked, phone_number_hash, region_code,
              reserved_for_second_factor, default_second_factor, is_primary,
              verification_status, verification_strategy, verification_attempts,
              verification_expire_at, linked_to, created_at, updated_at, deleted_at)
    ON clerk.phone_numbers TO clerk_reporting;
GRANT SELECT (history_id, phone_number_id, user_id, change, phone_number_masked,
              phone_number_hash, region_code, reserved_for_second_factor,
              default_second_factor, is_primary, verification_status, verification_strategy,
              verification_attempts, verification_expire_at, linked_to, created_at,
              updated_at, deleted_at, svix_id, effective_at, event_at, recorded_at)
    ON clerk.phone_number_history TO clerk_reporting;

-- The PII reader reads the mirror whole (never the inbox: 0002 says why), and every
-- report through clerk_reporting.
GRANT USAGE ON SCHEMA clerk TO clerk_pii_reader;
GRANT SELECT ON clerk.users, clerk.phone_numbers, clerk.phone_number_history,
    clerk.erased_users TO clerk_pii_reader;
DO $$
BEGIN
    GRANT clerk_reporting TO clerk_pii_reader;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- Q: What did clerk.phone_numbers hold at moment `at`? (as in 0004, which this replaces)
-- It runs with the caller's rights, so it returns what clerk_reporting may read: the
-- masked number and its hash instead of phone_number (the PII reader reads
-- clerk.phone_number_history itself for the raw one).
DROP FUNCTION clerk.phone_numbers_as_of(timestamptz);
CREATE FUNCTION clerk.phone_numbers_as_of(at timestamptz)
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
WHERE h.effective_at <= phone_numbers_as_of.at
ORDER BY h.phone_number_id, h.effective_at DESC, h.event_at DESC, h.svix_id COLLATE "C" DESC
$$;
GRANT EXECUTE ON FUNCTION clerk.phone_numbers_as_of(timestamptz) TO clerk_reporting;

-- Q: Which phone numbers are held by more than one live user, or were taken by a new
--    user after another holder's deletion?
-- Grouped by the number itself (this view runs with its owner's rights), so that rows
-- written before CLERK_MIRROR_PII_KEY was set count too; it shows only the hash, the
-- masked form and user ids, never the number. A holding starts at the phone's
-- created_at (else when the mirror first saw it) and ends when the phone or its user is
-- deleted. Erased rows hold no number and never count.
-- Columns: phone_number_hash (NULL when the rows were written without a key),
--          phone_number_masked, region_code, live_users (live users holding it now),
--          deleted_users (deleted users who held it), reheld_users (users who got it at or
--          after another holder's deletion), user_ids (every holder, earliest first).
-- An empty mirror gives no rows.
CREATE VIEW clerk.report_shared_phone_numbers AS
WITH holdings AS (
    SELECT p.phone_number, p.phone_number_hash, p.phone_number_masked, p.region_code,
           p.user_id,
           coalesce(p.created_at, (SELECT min(h.effective_at)
                                   FROM clerk.phone_number_history AS h
                                   WHERE h.phone_number_id = p.id)) AS held_from,
           p.deleted_at IS NULL AND u.deleted_at IS NULL AS live,
           u.deleted_at AS user_deleted_at
    FROM clerk.phone_numbers AS p
    JOIN clerk.users AS u ON u.id = p.user_id
    WHERE p.phone_number IS NOT NULL
), reheld AS (
    SELECT DISTINCT b.phone_number, b.user_id
    FROM holdings AS a
    JOIN holdings AS b ON b.phone_number = a.phone_number AND b.user_id <> a.user_id
    WHERE a.user_deleted_at IS NOT NULL AND b.held_from >= a.user_deleted_at
), numbers AS (
    SELECT h.phone_number,
           max(h.phone_number_hash) AS phone_number_hash,
           max(h.phone_number_masked) AS phone_number_masked,
           max(h.region_code) AS region_code,
           count(DISTINCT h.user_id) FILTER (WHERE h.live) AS live_users,
           count(DISTINCT h.user_id) FILTER (WHERE h.user_deleted_at IS NOT NULL)
               AS deleted_users,
           (SELECT count(*) FROM reheld AS r WHERE r.phone_number = h.phone_number)
               AS reheld_users
    FROM holdings AS h
    GROUP BY h.phone_number
    HAVING count(DISTINCT h.user_id) > 1
)
SELECT phone_number_hash, phone_number_masked, region_code, live_users, deleted_users,
       reheld_users,
       ARRAY(SELECT x.user_id
             FROM holdings AS x
             WHERE x.phone_number = n.phone_number
             GROUP BY x.user_id
             ORDER BY min(x.held_from) NULLS LAST, x.user_id) AS user_ids
FROM numbers AS n
WHERE live_users > 1 OR reheld_users > 0
ORDER BY live_users DESC, reheld_users DESC, phone_number_masked, user_ids;

GRANT SELECT ON clerk.report_shared_phone_numbers TO clerk_reporting;
