"""Application SQL, as named constants with %(name)s parameters."""

from __future__ import annotations

from typing import Final, LiteralString

# Store a verified webhook in the inbox; a repeated svix-id changes nothing.
INSERT_EVENT: Final[LiteralString] = """
INSERT INTO clerk.webhook_events
    (svix_id, event_type, payload, user_id, version_ms, event_ms, status, processed_at, source)
VALUES
    (%(svix_id)s, %(event_type)s, %(payload)s, %(user_id)s, %(version_ms)s, %(event_ms)s,
     %(status)s, CASE WHEN %(status)s = 'ignored' THEN now() END, %(source)s)
ON CONFLICT (svix_id) DO NOTHING
"""

# Claim due pending events: the oldest `limit`, plus every other due event of the same
# users, so that a backlog is applied per user in version order (the fast path).
CLAIM_PENDING: Final[LiteralString] = """
WITH head AS (
    SELECT svix_id, user_id
    FROM clerk.webhook_events
    WHERE status = 'pending' AND coalesce(next_attempt_at, '-infinity') <= now()
    ORDER BY received_at
    LIMIT %(limit)s
)
SELECT svix_id, event_type, payload, attempts
FROM clerk.webhook_events
WHERE status = 'pending'
  AND coalesce(next_attempt_at, '-infinity') <= now()
  AND (svix_id IN (SELECT svix_id FROM head)
       OR user_id IN (SELECT user_id FROM head WHERE user_id IS NOT NULL))
ORDER BY received_at
LIMIT %(limit)s * 20
FOR UPDATE SKIP LOCKED
"""

# Claim named events whatever their status (replay), skipping ones a worker holds and
# ones whose payload was purged (nothing left to apply).
CLAIM_BY_ID: Final[LiteralString] = """
SELECT svix_id, event_type, payload, attempts
FROM clerk.webhook_events
WHERE svix_id = ANY(%(svix_ids)s) AND payload IS NOT NULL
FOR UPDATE SKIP LOCKED
"""

# Serialize work per user across workers: transaction-scoped, taken in one global order.
LOCK_USERS: Final[LiteralString] = """
SELECT count(pg_advisory_xact_lock(h))
FROM (SELECT DISTINCT hashtextextended(u, 0) AS h FROM unnest(%(user_ids)s::text[]) AS u
      ORDER BY 1) AS locks
"""

SELECT_USERS: Final[LiteralString] = """
SELECT id, primary_phone_number_id, two_factor_enabled, totp_enabled, backup_code_enabled,
       created_at, updated_at, deleted_at, version_ms, version_event_ms, version_svix_id
FROM clerk.users
WHERE id = ANY(%(user_ids)s)
"""

SELECT_PHONES: Final[LiteralString] = """
SELECT id, user_id, phone_number, region_code, reserved_for_second_factor,
       default_second_factor, is_primary, verification_status, verification_strategy,
       verification_attempts, verification_expire_at, linked_to, created_at, updated_at,
       deleted_at
FROM clerk.phone_numbers
WHERE user_id = ANY(%(user_ids)s)
"""

# The last history row of each of a user's phones strictly before a moment: the state
# a late event is folded onto.
SELECT_CHECKPOINT: Final[LiteralString] = """
SELECT DISTINCT ON (phone_number_id)
       phone_number_id, user_id, phone_number, region_code, reserved_for_second_factor,
       default_second_factor, is_primary, verification_status, verification_strategy,
       verification_attempts, verification_expire_at, linked_to, created_at, updated_at,
       deleted_at
FROM clerk.phone_number_history
WHERE user_id = %(user_id)s AND effective_at < %(before)s
ORDER BY phone_number_id, effective_at DESC, event_at DESC, svix_id DESC
"""

# History a rebuild may replace: everything of the user from the rebuild's start.
SELECT_HISTORY_FROM: Final[LiteralString] = """
SELECT history_id, phone_number_id, user_id, change, phone_number, region_code,
       reserved_for_second_factor, default_second_factor, is_primary, verification_status,
       verification_strategy, verification_attempts, verification_expire_at, linked_to,
       created_at, updated_at, deleted_at, svix_id, effective_at, event_at
FROM clerk.phone_number_history
WHERE user_id = %(user_id)s AND effective_at >= %(since)s
"""

# Events of a user already applied, from a version on: what a rebuild folds again.
SELECT_APPLIED_EVENTS: Final[LiteralString] = """
SELECT svix_id, payload
FROM clerk.webhook_events
WHERE user_id = %(user_id)s AND version_ms >= %(since_ms)s AND status = 'processed'
  AND NOT (svix_id = ANY(%(exclude)s))
"""

# Newest wins, also here: a row only moves forward in version.
UPSERT_USER: Final[LiteralString] = """
INSERT INTO clerk.users AS u
    (id, primary_phone_number_id, two_factor_enabled, totp_enabled, backup_code_enabled,
     created_at, updated_at, deleted_at, version_ms, version_event_ms, version_svix_id)
VALUES
    (%(id)s, %(primary_phone_number_id)s, %(two_factor_enabled)s, %(totp_enabled)s,
     %(backup_code_enabled)s, %(created_at)s, %(updated_at)s, %(deleted_at)s,
     %(version_ms)s, %(version_event_ms)s, %(version_svix_id)s)
ON CONFLICT (id) DO UPDATE SET
    primary_phone_number_id = EXCLUDED.primary_phone_number_id,
    two_factor_enabled = EXCLUDED.two_factor_enabled,
    totp_enabled = EXCLUDED.totp_enabled,
    backup_code_enabled = EXCLUDED.backup_code_enabled,
    created_at = EXCLUDED.created_at,
    updated_at = EXCLUDED.updated_at,
    deleted_at = EXCLUDED.deleted_at,
    version_ms = EXCLUDED.version_ms,
    version_event_ms = EXCLUDED.version_event_ms,
    version_svix_id = EXCLUDED.version_svix_id,
    synced_at = now()
WHERE (u.version_ms, u.version_event_ms, u.version_svix_id)
   <= (EXCLUDED.version_ms, EXCLUDED.version_event_ms, EXCLUDED.version_svix_id)
"""

UPSERT_PHONE: Final[LiteralString] = """
INSERT INTO clerk.phone_numbers
    (id, user_id, phone_number, region_code, reserved_for_second_factor,
     default_second_factor, is_primary, verification_status, verification_strategy,
     verification_attempts, verification_expire_at, linked_to, created_at, updated_at,
     deleted_at)
VALUES
    (%(id)s, %(user_id)s, %(phone_number)s, %(region_code)s, %(reserved_for_second_factor)s,
     %(default_second_factor)s, %(is_primary)s, %(verification_status)s,
     %(verification_strategy)s, %(verification_attempts)s, %(verification_expire_at)s,
     %(linked_to)s, %(created_at)s, %(updated_at)s, %(deleted_at)s)
ON CONFLICT (id) DO UPDATE SET
    user_id = EXCLUDED.user_id,
    phone_number = EXCLUDED.phone_number,
    region_code = EXCLUDED.region_code,
    reserved_for_second_factor = EXCLUDED.reserved_for_second_factor,
    default_second_factor = EXCLUDED.default_second_factor,
    is_primary = EXCLUDED.is_primary,
    verification_status = EXCLUDED.verification_status,
    verification_strategy = EXCLUDED.verification_strategy,
    verification_attempts = EXCLUDED.verification_attempts,
    verification_expire_at = EXCLUDED.verification_expire_at,
    linked_to = EXCLUDED.linked_to,
    created_at = EXCLUDED.created_at,
    updated_at = EXCLUDED.updated_at,
    deleted_at = EXCLUDED.deleted_at
"""

INSERT_HISTORY: Final[LiteralString] = """
INSERT INTO clerk.phone_number_history
    (phone_number_id, user_id, change, phone_number, region_code,
     reserved_for_second_factor, default_second_factor, is_primary, verification_status,
     verification_strategy, verification_attempts, verification_expire_at, linked_to,
     created_at, updated_at, deleted_at, svix_id, effective_at, event_at)
VALUES
    (%(id)s, %(user_id)s, %(change)s, %(phone_number)s, %(region_code)s,
     %(reserved_for_second_factor)s, %(default_second_factor)s, %(is_primary)s,
     %(verification_status)s, %(verification_strategy)s, %(verification_attempts)s,
     %(verification_expire_at)s, %(linked_to)s, %(created_at)s, %(updated_at)s,
     %(deleted_at)s, %(svix_id)s, %(effective_at)s, %(event_at)s)
ON CONFLICT (phone_number_id, svix_id) DO NOTHING
"""

# A late event made these rows redundant (same state as the row now before them).
DELETE_HISTORY: Final[LiteralString] = """
DELETE FROM clerk.phone_number_history WHERE history_id = ANY(%(history_ids)s)
"""

# Close claimed events in one statement: processed, ignored or failed.
FINISH_EVENTS: Final[LiteralString] = """
UPDATE clerk.webhook_events AS e
SET status = f.status,
    last_error = f.error,
    attempts = e.attempts + 1,
    processed_at = now(),
    next_attempt_at = NULL
FROM unnest(%(svix_ids)s::text[], %(statuses)s::text[], %(errors)s::text[])
     AS f(svix_id, status, error)
WHERE e.svix_id = f.svix_id
"""

# An apply that crashed: count the attempt, back off, and give up after max_attempts.
RECORD_ATTEMPT: Final[LiteralString] = """
UPDATE clerk.webhook_events
SET attempts = attempts + 1,
    last_error = %(error)s,
    status = CASE WHEN attempts + 1 >= %(max_attempts)s THEN 'dead' ELSE status END,
    next_attempt_at = now() + make_interval(secs => %(backoff_s)s * 2 ^ attempts)
WHERE svix_id = ANY(%(svix_ids)s) AND status = 'pending'
"""

# Put events back in line for the worker (replay and the sweep use this).
REQUEUE: Final[LiteralString] = """
UPDATE clerk.webhook_events
SET status = 'pending', next_attempt_at = NULL, attempts = 0
WHERE svix_id = ANY(%(svix_ids)s) AND status <> 'pending' AND payload IS NOT NULL
"""

# Is anything still waiting longer than the grace period? (the beat sweep)
COUNT_STALE_PENDING: Final[LiteralString] = """
SELECT count(*)
FROM clerk.webhook_events
WHERE status = 'pending'
  AND received_at < now() - make_interval(secs => %(grace_s)s)
  AND coalesce(next_attempt_at, '-infinity') <= now()
"""

# Operator's selection of inbox events (replay): each filter applies only when given.
SELECT_EVENT_IDS: Final[LiteralString] = """
SELECT svix_id, payload IS NULL AS purged
FROM clerk.webhook_events
WHERE (%(svix_ids)s::text[] IS NULL OR svix_id = ANY(%(svix_ids)s::text[]))
  AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
  AND (%(types)s::text[] IS NULL OR event_type = ANY(%(types)s::text[]))
  AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR received_at < %(until)s::timestamptz)
ORDER BY received_at, svix_id
"""

COUNT_BY_STATUS: Final[LiteralString] = """
SELECT status, count(*) FROM clerk.webhook_events GROUP BY status
"""

# The age of the oldest pending event is the mirror's lag (served by the pending index).
OLDEST_PENDING: Final[LiteralString] = """
SELECT min(received_at), now() FROM clerk.webhook_events WHERE status = 'pending'
"""

LAST_RECEIVED: Final[LiteralString] = """
SELECT svix_id, event_type, status, received_at
FROM clerk.webhook_events
ORDER BY received_at DESC
LIMIT 1
"""

# Payload retention: drop the raw body of closed events, keep the row and the mirror.
# Failed and dead rows keep theirs: they are what an operator redrives.
PURGE_PAYLOADS: Final[LiteralString] = """
UPDATE clerk.webhook_events
SET payload = NULL
WHERE status IN ('processed', 'ignored') AND payload IS NOT NULL
  AND processed_at < now() - %(older_than)s::interval
"""

COUNT_PURGEABLE: Final[LiteralString] = """
SELECT count(*)
FROM clerk.webhook_events
WHERE status IN ('processed', 'ignored') AND payload IS NOT NULL
  AND processed_at < now() - %(older_than)s::interval
"""
