-- clerk.phone_numbers_as_of(at timestamptz, for_user_id text) (function)
--
-- Question: What did clerk.phone_numbers hold for one user (--user-id) at a past moment (--as-of)?
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
-- The same rows as `clerk.phone_numbers_as_of(at) WHERE user_id = for_user_id`, and
-- defined as that: both functions are inlined, so the filter on `user_id` reaches
-- `phone_number_history_user_idx` and a user's as-of is an index look-up. It follows each
-- phone's own rows, so for a phone id that another user's snapshots took over (Clerk does
-- not move phone ids) it returns the phone only to the user whose row held at that moment.

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

GRANT EXECUTE ON FUNCTION clerk.phone_numbers_as_of(timestamptz, text) TO clerk_reporting;
COMMENT ON FUNCTION clerk.phone_numbers_as_of(timestamptz, text) IS
    'What did clerk.phone_numbers hold for one user (--user-id) at a past moment (--as-of)?';
