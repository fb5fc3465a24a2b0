-- Why: Clerk's sms.created is the only signal that counts SMS sends, and SMS pumping (toll
-- fraud) bills the Clerk customer for every code sent to numbers attackers control. The
-- mirror kept those bodies whole in the inbox, one-time code included, and used none of it.
-- Now the inbox keeps only the ledger's fields of an sms.created and no body of a type the
-- mirror does not apply (worker/inbox/redact.py), and the worker applies each sms.created
-- to clerk.sms_messages: one row per message, never its text or template data.

CREATE TABLE clerk.sms_messages (
    id                  text        PRIMARY KEY,
    user_id             text,
    phone_number_id     text,
    slug                text,
    status              text,
    delivered_by_clerk  boolean,
    -- created_at_ms of the message, else the event's timestamp.
    created_at          timestamptz NOT NULL,
    -- to_phone_number: read only by clerk_pii_reader, like the other raw numbers.
    phone_number        text,
    phone_number_masked text GENERATED ALWAYS AS (clerk.mask_phone_number(phone_number)) STORED,
    phone_number_hash   text,
    region_code         text,
    -- The number without its last four digits: the unit fraud systems throttle.
    number_prefix       text,
    number_type         text,
    is_valid_number     boolean,
    is_test_number      boolean,
    svix_id             text        NOT NULL UNIQUE,
    recorded_at         timestamptz NOT NULL DEFAULT now()
);

-- The reports read by day; erasure by user and by number.
CREATE INDEX sms_messages_created_idx ON clerk.sms_messages (created_at, region_code);
CREATE INDEX sms_messages_user_idx ON clerk.sms_messages (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX sms_messages_number_idx ON clerk.sms_messages (phone_number)
    WHERE phone_number IS NOT NULL;

-- Every column but the raw number (0002's default privileges granted the whole table).
REVOKE SELECT ON clerk.sms_messages FROM clerk_reporting;
GRANT SELECT (id, user_id, phone_number_id, slug, status, delivered_by_clerk, created_at,
              phone_number_masked, phone_number_hash, region_code, number_prefix,
              number_type, is_valid_number, is_test_number, svix_id, recorded_at)
    ON clerk.sms_messages TO clerk_reporting;
GRANT SELECT ON clerk.sms_messages TO clerk_pii_reader;

-- The bodies already stored: none is kept of a type the mirror does not apply. An
-- sms.created is cut to the ledger's fields and put back in line, so the worker writes
-- its ledger row; one whose body is not JSON that jsonb reads loses its body instead.
UPDATE clerk.webhook_events
SET payload = NULL
WHERE payload IS NOT NULL
  AND event_type NOT IN ('user.created', 'user.updated', 'user.deleted', 'sms.created');

DO $$
DECLARE
    e record;
    body jsonb;
BEGIN
    FOR e IN SELECT svix_id, payload FROM clerk.webhook_events
             WHERE event_type = 'sms.created' AND payload IS NOT NULL
    LOOP
        BEGIN
            body := convert_from(e.payload, 'UTF8')::jsonb;
            UPDATE clerk.webhook_events
            SET payload = convert_to(jsonb_build_object(
                    'object', body -> 'object', 'type', body -> 'type',
                    'timestamp', body -> 'timestamp',
                    'data', jsonb_strip_nulls(jsonb_build_object(
                        'object', body -> 'data' -> 'object',
                        'id', body -> 'data' -> 'id',
                        'slug', body -> 'data' -> 'slug',
                        'status', body -> 'data' -> 'status',
                        'to_phone_number', body -> 'data' -> 'to_phone_number',
                        'phone_number_id', body -> 'data' -> 'phone_number_id',
                        'user_id', body -> 'data' -> 'user_id',
                        'delivered_by_clerk', body -> 'data' -> 'delivered_by_clerk',
                        'created_at_ms', body -> 'data' -> 'created_at_ms',
                        'created_at', body -> 'data' -> 'created_at')))::text, 'UTF8'),
                user_id = body -> 'data' ->> 'user_id',
                status = CASE WHEN status = 'ignored' AND last_error IS NULL
                              THEN 'pending' ELSE status END,
                processed_at = CASE WHEN status = 'ignored' AND last_error IS NULL
                                    THEN NULL ELSE processed_at END
            WHERE svix_id = e.svix_id;
        EXCEPTION WHEN others THEN
            UPDATE clerk.webhook_events SET payload = NULL WHERE svix_id = e.svix_id;
        END;
    END LOOP;
END
$$;
