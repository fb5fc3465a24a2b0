"""Many events into the inbox in one statement: a backfill's page of users."""

from __future__ import annotations

from typing import Final, LiteralString

import psycopg

from worker.inbox.queries import ERASED_NOTE
from worker.mirror.events import USER_TYPES, Envelope

# The events in one statement, as worker.inbox.queries.INSERT_EVENT stores one: an
# erased user's without its payload and closed as ignored, a stored svix-id left alone.
# Read from a stage that binary COPY filled (encoded in C, not as Python-built arrays),
# emptied as it is read. Returns the inserted rows' statuses: pending ones are to apply.
CREATE_STAGE: Final[LiteralString] = """
CREATE TEMP TABLE IF NOT EXISTS inbox_stage (
    svix_id text, event_type text, payload bytea, user_id text, version_ms bigint,
    event_ms bigint, status text
) ON COMMIT DELETE ROWS
"""
STAGE_COLUMNS: Final = ("text", "text", "bytea", "text", "int8", "int8", "text")
COPY_STAGE: Final[LiteralString] = "COPY inbox_stage FROM STDIN (FORMAT BINARY)"
STORE_MANY: Final[LiteralString] = """
WITH p AS (DELETE FROM inbox_stage RETURNING *)
INSERT INTO clerk.webhook_events
    (svix_id, event_type, payload, user_id, version_ms, event_ms, status, processed_at,
     last_error, source)
SELECT p.svix_id, p.event_type, CASE WHEN e.user_id IS NULL THEN p.payload END,
       p.user_id, p.version_ms, p.event_ms,
       CASE WHEN e.user_id IS NOT NULL THEN 'ignored' ELSE p.status END,
       CASE WHEN e.user_id IS NOT NULL OR p.status = 'ignored' THEN now() END,
       CASE WHEN e.user_id IS NOT NULL THEN %(erased_note)s END,
       %(source)s
FROM p LEFT JOIN clerk.erased_users AS e ON e.user_id = p.user_id
ON CONFLICT (svix_id) DO NOTHING
RETURNING svix_id, status
"""


def store_many(
    conn: psycopg.Connection, events: list[tuple[str, bytes, Envelope]], *, source: str
) -> list[str]:
    """Insert (svix_id, payload, envelope) events at once; the svix-ids it stored as pending.

    As store_event for each, but for a svix-id repeated within the events (one is stored).
    """
    conn.execute(CREATE_STAGE)
    with conn.cursor().copy(COPY_STAGE) as copy:
        copy.set_types(STAGE_COLUMNS)
        for svix_id, raw, env in events:
            status = "pending" if env.event_type in USER_TYPES else "ignored"
            copy.write_row(
                (svix_id, env.event_type, raw, env.user_id, env.version_ms, env.event_ms, status)
            )
    rows = conn.execute(STORE_MANY, {"erased_note": ERASED_NOTE, "source": source}).fetchall()
    return [svix_id for svix_id, status in rows if status == "pending"]
