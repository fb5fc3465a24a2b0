"""SQL of the inbox (clerk.webhook_events), as named constants with %(name)s parameters."""

from __future__ import annotations

from typing import Final, LiteralString

# Store a verified webhook in the inbox; a repeated svix-id changes nothing. An event of
# an erased user is kept as a row (it was answered 2xx) but without its payload, and
# closed as ignored: erasure is for good.
INSERT_EVENT: Final[LiteralString] = """
INSERT INTO clerk.webhook_events
    (svix_id, event_type, payload, user_id, version_ms, event_ms, status, processed_at,
     last_error, source)
SELECT %(svix_id)s, %(event_type)s, CASE WHEN NOT e.erased THEN %(payload)s::bytea END,
       %(user_id)s, %(version_ms)s, %(event_ms)s,
       CASE WHEN e.erased THEN 'ignored' ELSE %(status)s END,
       CASE WHEN e.erased OR %(status)s = 'ignored' THEN now() END,
       CASE WHEN e.erased THEN %(erased_note)s END,
       %(source)s
FROM (SELECT EXISTS (SELECT FROM clerk.erased_users WHERE user_id = %(user_id)s) AS erased) AS e
ON CONFLICT (svix_id) DO NOTHING
"""

# The note an erased user's events carry in last_error.
ERASED_NOTE = "user erased"

# Forget events (an erased user's, or ones that mention them), named by id or by user:
# no payload, no error text (it may quote the body), closed as ignored (processed ones
# stay so). The one statement that does it; rows already forgotten are left alone, so
# that the count says what changed.
FORGET: Final[LiteralString] = """
UPDATE clerk.webhook_events
SET payload = NULL,
    last_error = %(erased_note)s,
    status = CASE WHEN status = 'processed' THEN status ELSE 'ignored' END,
    processed_at = coalesce(processed_at, clock_timestamp()),
    next_attempt_at = NULL
WHERE (svix_id = ANY(%(svix_ids)s::text[]) OR user_id = ANY(%(user_ids)s::text[]))
  AND (payload IS NOT NULL OR status NOT IN ('processed', 'ignored')
       OR last_error IS DISTINCT FROM %(erased_note)s)
"""

# Events with no user of their own (session.*, sms.*, a body that named no valid user)
# whose payload holds one of the needles (an erased user's id or number), each with the
# owners of the needles it holds. One pass over the inbox for a whole batch.
MENTIONS: Final[LiteralString] = """
WITH needles AS (
    SELECT owner, convert_to(needle, 'UTF8') AS needle
    FROM unnest(%(owners)s::text[], %(needles)s::text[]) AS n(owner, needle)
)
SELECT e.svix_id, array_agg(DISTINCT n.owner)
FROM clerk.webhook_events AS e
JOIN needles AS n ON position(n.needle IN e.payload) > 0
WHERE e.user_id IS NULL AND e.payload IS NOT NULL
GROUP BY e.svix_id
"""

# An event whose insert failed, kept as a failed row with the reason, so that an
# operator sees it and can redrive it (replay --status failed) once the cause is fixed.
STORE_FAILED: Final[LiteralString] = """
INSERT INTO clerk.webhook_events
    (svix_id, event_type, payload, user_id, version_ms, event_ms, status, last_error,
     processed_at, source)
VALUES
    (%(svix_id)s, %(event_type)s, %(payload)s, %(user_id)s, %(version_ms)s, %(event_ms)s,
     'failed', %(error)s, now(), %(source)s)
ON CONFLICT (svix_id) DO NOTHING
"""

# Claim due pending events: the oldest `limit`, plus every other due event of the same
# users, so that a backlog is applied per user in version order (the fast path). The
# head skips locked rows too, so concurrent drains take disjoint heads instead of one
# of them finding its head taken and stopping. The users' events are found through the
# users' index, not by filtering every pending event (an OR of the two would be: a scan
# of a whole backlog for each batch). Their status is compared as `status || ''` so that
# the pending index cannot serve it: with statistics from before a backlog (or none, on a
# table just filled) the planner took that index for small and read all of it per user.
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
FROM (SELECT mine.*
      FROM (SELECT user_id FROM head WHERE user_id IS NOT NULL GROUP BY user_id) AS u,
           LATERAL (SELECT svix_id, event_type, payload, attempts, received_at
                    FROM clerk.webhook_events AS e
                    WHERE e.user_id = u.user_id AND e.status || '' = 'pending'
                      AND coalesce(e.next_attempt_at, '-infinity') <= now()
                    OFFSET 0
                    FOR UPDATE SKIP LOCKED) AS mine
      UNION ALL
      SELECT h.svix_id, alone.*
      FROM (SELECT svix_id FROM head WHERE user_id IS NULL) AS h,
           LATERAL (SELECT event_type, payload, attempts, received_at
                    FROM clerk.webhook_events AS e
                    WHERE e.svix_id = h.svix_id
                    OFFSET 0) AS alone) AS claimed
ORDER BY received_at
LIMIT %(limit)s * 20
"""

# Claim named events whatever their status (replay), skipping ones a worker holds and
# ones whose payload was purged (nothing left to apply).
CLAIM_BY_ID: Final[LiteralString] = """
SELECT svix_id, event_type, payload, attempts
FROM clerk.webhook_events
WHERE svix_id = ANY(%(svix_ids)s) AND payload IS NOT NULL
FOR UPDATE SKIP LOCKED
"""

# Close claimed events in one statement: processed, ignored or failed. processed_at is
# when the batch's work was done (clock_timestamp), not when its transaction began. The
# ids also as = ANY: the planner then knows how few rows are meant and reads them by the
# primary key, not the whole inbox into a hash join (a drain's backlog of 50,000 events).
FINISH_EVENTS: Final[LiteralString] = """
UPDATE clerk.webhook_events AS e
SET status = f.status,
    last_error = f.error,
    attempts = e.attempts + 1,
    processed_at = clock_timestamp(),
    next_attempt_at = NULL
FROM unnest(%(svix_ids)s::text[], %(statuses)s::text[], %(errors)s::text[])
     AS f(svix_id, status, error)
WHERE e.svix_id = f.svix_id AND e.svix_id = ANY(%(svix_ids)s)
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

# Seconds until the earliest backed-off pending event is due again (NULL: none waits).
NEXT_RETRY_IN: Final[LiteralString] = """
SELECT extract(epoch FROM min(next_attempt_at) - now())::float8
FROM clerk.webhook_events
WHERE status = 'pending' AND next_attempt_at > now()
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

# Whether an event due now has waited longer than %(age)s, from the pending index's oldest
# entries on; one retrying later (next_attempt_at) leaves the worker nothing to do yet.
PENDING_BEFORE: Final[LiteralString] = """
SELECT EXISTS (SELECT 1 FROM clerk.webhook_events
               WHERE status = 'pending' AND received_at < now() - %(age)s
                 AND coalesce(next_attempt_at, '-infinity') <= now())
"""

# The open statuses and the lag (the age of the oldest pending event), one partial index
# pass each (0001's on pending rows, 0010's on failed and dead ones): cheap whatever the
# table's size, so /metrics reads them at every scrape.
OPEN_STATUS: Final[LiteralString] = """
SELECT (SELECT count(*) FROM clerk.webhook_events WHERE status = 'pending'),
       (SELECT count(*) FROM clerk.webhook_events WHERE status = 'failed'),
       (SELECT count(*) FROM clerk.webhook_events WHERE status = 'dead'),
       (SELECT min(received_at) FROM clerk.webhook_events WHERE status = 'pending'),
       now()
"""

# The closed statuses, counted exactly: a pass over most of the table, so only while the
# table is small (ops.EXACT_PAGES).
CLOSED_COUNTS: Final[LiteralString] = """
SELECT status, count(*) FROM clerk.webhook_events
WHERE status IN ('processed', 'ignored')
GROUP BY status
"""

# The inbox's size in pages, as the planner reads it.
TABLE_PAGES: Final[LiteralString] = """
SELECT pg_relation_size('clerk.webhook_events') / current_setting('block_size')::bigint
"""

# The closed statuses, estimated as the planner does: rows per page at the last ANALYZE
# times the pages now, times each status' share in the column's statistics. No row is
# read; a status the statistics do not list reads as 0.
CLOSED_ESTIMATE: Final[LiteralString] = """
SELECT v.status,
       round(c.reltuples / greatest(c.relpages, 1)
             * (pg_relation_size(c.oid) / current_setting('block_size')::bigint)
             * v.freq)::bigint
FROM pg_class AS c
JOIN pg_stats AS s
  ON s.schemaname = 'clerk' AND s.tablename = 'webhook_events' AND s.attname = 'status'
CROSS JOIN LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs)
     AS v(status, freq)
WHERE c.oid = 'clerk.webhook_events'::regclass AND c.reltuples > 0
  AND v.status IN ('processed', 'ignored')
"""

# The newest event: the first entry of webhook_events_received_idx (0022).
LAST_RECEIVED: Final[LiteralString] = """
SELECT svix_id, event_type, status, received_at
FROM clerk.webhook_events
ORDER BY received_at DESC
LIMIT 1
"""

# Payload retention: drop the raw body of closed events, keep the row and the mirror.
# Failed and dead rows keep theirs: they are what an operator redrives. One bounded batch
# a transaction, the oldest first, through webhook_events_purgeable_idx (0022), which
# holds only the rows that still have a payload; rows a worker holds are skipped, never
# waited for.
PURGE_PAYLOADS: Final[LiteralString] = """
WITH batch AS (
    SELECT svix_id
    FROM clerk.webhook_events
    WHERE status IN ('processed', 'ignored') AND payload IS NOT NULL
      AND processed_at < now() - %(older_than)s::interval
    ORDER BY processed_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
UPDATE clerk.webhook_events AS e
SET payload = NULL
FROM batch
WHERE e.svix_id = batch.svix_id
"""

COUNT_PURGEABLE: Final[LiteralString] = """
SELECT count(*)
FROM clerk.webhook_events
WHERE status IN ('processed', 'ignored') AND payload IS NOT NULL
  AND processed_at < now() - %(older_than)s::interval
"""

# Row retention (CLERK_MIRROR_INBOX_KEEP_DAYS): remove closed rows received and closed
# before the cutoff, one bounded batch a transaction, through webhook_events_closed_idx,
# from where the previous batch stopped (`after`: the kept rows before it are not read
# again). Kept whatever their age: failed and dead rows (an operator redrives them),
# pending ones, rows that still hold a payload (a replay could use it), and the event each
# user's mirrored version came from (the tie-break of newest-wins names it).
REMOVE_CLOSED: Final[LiteralString] = """
WITH open_users AS MATERIALIZED (
    SELECT DISTINCT user_id
    FROM clerk.webhook_events
    WHERE status IN ('pending', 'failed', 'dead') AND user_id IS NOT NULL
),
batch AS (
    SELECT e.svix_id
    FROM clerk.webhook_events AS e
    WHERE e.status IN ('processed', 'ignored') AND e.payload IS NULL
      AND e.processed_at >= coalesce(%(after)s::timestamptz, '-infinity')
      AND e.processed_at < now() - %(older_than)s::interval
      AND e.received_at < now() - %(older_than)s::interval
      AND NOT EXISTS (
          SELECT FROM clerk.users AS u WHERE u.id = e.user_id AND u.version_svix_id = e.svix_id
      )
      -- A user with an event still open keeps every row: applying it, late as a redriven
      -- failed or dead event is, re-folds the user's events from its version on, and a
      -- removed event could not be rebuilt (a purged one is, from history).
      AND NOT EXISTS (SELECT FROM open_users AS o WHERE o.user_id = e.user_id)
    ORDER BY e.processed_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
DELETE FROM clerk.webhook_events AS e
USING batch
WHERE e.svix_id = batch.svix_id
RETURNING e.processed_at
"""
