-- Why: the mirror orders a user's events by (updated_at, event timestamp, svix-id) and
-- compares svix-ids by code point, as Python compares strings. phone_numbers_as_of (0004)
-- ordered svix-ids in the database's collation, which on an ICU or en_US database puts
-- 'msg_2pxA' before 'msg_2pXa': two events that tie on both times then resolved one way
-- in the fold and the other way here. COLLATE "C" is code-point order for UTF-8 text.
-- Same signature and columns as 0004's, so its grant to clerk_reporting stays.
CREATE OR REPLACE FUNCTION clerk.phone_numbers_as_of(at timestamptz)
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
ORDER BY h.phone_number_id, h.effective_at DESC, h.event_at DESC, h.svix_id COLLATE "C" DESC
$$;
