-- clerk.phone_numbers_as_of(at timestamptz) (function)
--
-- Question: What did clerk.phone_numbers hold at a past moment (--as-of)?
--
-- Columns:
--   id, user_id: the phone and its user.
--   phone_number_masked, phone_number_hash: the number masked and its keyed hash, in place
--     of phone_number, which clerk_reporting may not read.
--   region_code, reserved_for_second_factor, default_second_factor, is_primary,
--     verification_status, verification_strategy, verification_attempts,
--     verification_expire_at, linked_to, created_at, updated_at, deleted_at: as in
--     clerk.phone_numbers.
--
-- Empty mirror: no rows.
--
-- Rebuilt from `clerk.phone_number_history`: each phone's last row with
-- `effective_at <= at`, in the mirror's own event order (`effective_at`, the event's
-- timestamp, then svix-id by code point, as the worker compares them), so that events that
-- tie resolve as the fold resolved them. Each history row carries `valid_until`, the
-- `effective_at` of the phone's next row (`clerk.phone_history_valid_until` defines it),
-- so the function is one filtered read of history with no sort. A phone deleted by then
-- comes back with `deleted_at` set, as the table held it: filter
-- `WHERE deleted_at IS NULL` for the live ones. It runs with the caller's rights (never
-- SECURITY DEFINER: it must not show anyone more than they may read), hence the masked
-- number and hash; the PII reader reads `clerk.phone_number_history` itself for the raw
-- one. The columns are declared one by one so that a column added to the table later does
-- not change the function.

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

GRANT EXECUTE ON FUNCTION clerk.phone_numbers_as_of(timestamptz) TO clerk_reporting;
COMMENT ON FUNCTION clerk.phone_numbers_as_of(timestamptz) IS
    'What did clerk.phone_numbers hold at a past moment (--as-of)?';
