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
# users, so that a backlog is applied per user in version order (the fast path). The
# head skips locked rows too, so concurrent drains take disjoint heads instead of one
# of them finding its head taken and stopping.
CLAIM_PENDING: Final[LiteralString] = """
WITH head AS (
    SELECT svix_id, user_id
    FROM clerk.webhook_events
    WHERE status = 'pending' AND coalesce(next_attempt_at, '-infinity') <= now()
    ORDER BY received_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
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

# A late event made these rows redundant (same state as the row now before them).
DELETE_HISTORY: Final[LiteralString] = """
DELETE FROM clerk.phone_number_history WHERE history_id = ANY(%(history_ids)s)
"""

# Close claimed events in one statement: processed, ignored or failed. processed_at is
# when the batch's work was done (clock_timestamp), not when its transaction began.
FINISH_EVENTS: Final[LiteralString] = """
UPDATE clerk.webhook_events AS e
SET status = f.status,
    last_error = f.error,
    attempts = e.attempts + 1,
    processed_at = clock_timestamp(),
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
