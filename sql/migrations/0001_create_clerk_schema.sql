-- Why: the mirror that reporting reads (users, phone_numbers, their history) and the
-- inbox that makes an accepted webhook durable before we answer 2xx. Column names
-- follow Clerk's Backend API; times are timestamptz (Clerk sends ms since epoch).

CREATE SCHEMA IF NOT EXISTS clerk;

-- The inbox. payload is the body exactly as received (bytea: exact and cheap to
-- write; convert_from(payload, 'UTF8')::jsonb when you want to query it). user_id,
-- version_ms and event_ms are lifted from the body at ingest so that the worker can
-- claim and order a user's events without parsing every payload.
CREATE TABLE clerk.webhook_events (
    svix_id         text        PRIMARY KEY,
    event_type      text        NOT NULL,
    payload         bytea,
    received_at     timestamptz NOT NULL DEFAULT now(),
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processed', 'ignored', 'failed', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    processed_at    timestamptz,
    user_id         text,
    version_ms      bigint,
    event_ms        bigint,
    next_attempt_at timestamptz,
    source          text        NOT NULL DEFAULT 'webhook'
);

CREATE INDEX webhook_events_pending_idx
    ON clerk.webhook_events (received_at) WHERE status = 'pending';
CREATE INDEX webhook_events_user_idx
    ON clerk.webhook_events (user_id, version_ms);

-- One row per Clerk user. version_ms/version_event_ms/version_svix_id name the newest
-- event applied (snapshot updated_at or deletion timestamp, then event timestamp,
-- then svix-id): an event at or below it is out of order and goes the slow path.
CREATE TABLE clerk.users (
    id                      text        PRIMARY KEY,
    primary_phone_number_id text,
    two_factor_enabled      boolean,
    totp_enabled            boolean,
    backup_code_enabled     boolean,
    created_at              timestamptz,
    updated_at              timestamptz,
    deleted_at              timestamptz,
    version_ms              bigint      NOT NULL,
    version_event_ms        bigint      NOT NULL,
    version_svix_id         text        NOT NULL,
    synced_at               timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE clerk.phone_numbers (
    id                         text        PRIMARY KEY,
    user_id                    text        NOT NULL,
    phone_number               text        NOT NULL,
    region_code                text,
    reserved_for_second_factor boolean     NOT NULL,
    default_second_factor      boolean     NOT NULL,
    is_primary                 boolean     NOT NULL,
    verification_status        text,
    verification_strategy      text,
    verification_attempts      integer,
    verification_expire_at     timestamptz,
    linked_to                  jsonb       NOT NULL DEFAULT '[]',
    created_at                 timestamptz,
    updated_at                 timestamptz,
    deleted_at                 timestamptz
);

CREATE INDEX phone_numbers_user_idx ON clerk.phone_numbers (user_id);

-- One row per change of a phone number, ordered by effective_at (when it was true in
-- Clerk), then event_at, not by arrival. recorded_at is when the mirror learned it.
CREATE TABLE clerk.phone_number_history (
    history_id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_number_id            text        NOT NULL,
    user_id                    text        NOT NULL,
    change                     text        NOT NULL CHECK (change IN ('created', 'updated', 'deleted')),
    phone_number               text        NOT NULL,
    region_code                text,
    reserved_for_second_factor boolean     NOT NULL,
    default_second_factor      boolean     NOT NULL,
    is_primary                 boolean     NOT NULL,
    verification_status        text,
    verification_strategy      text,
    verification_attempts      integer,
    verification_expire_at     timestamptz,
    linked_to                  jsonb       NOT NULL DEFAULT '[]',
    created_at                 timestamptz,
    updated_at                 timestamptz,
    deleted_at                 timestamptz,
    svix_id                    text        NOT NULL,
    effective_at               timestamptz NOT NULL,
    -- the event's own timestamp: orders two changes that share an effective_at
    event_at                   timestamptz NOT NULL,
    recorded_at                timestamptz NOT NULL DEFAULT now(),
    UNIQUE (phone_number_id, svix_id)
);

CREATE INDEX phone_number_history_user_idx
    ON clerk.phone_number_history (user_id, effective_at);
CREATE INDEX phone_number_history_phone_idx
    ON clerk.phone_number_history (phone_number_id, effective_at);
