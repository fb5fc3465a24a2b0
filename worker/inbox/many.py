"""Many events into the inbox in one statement: a backfill's page of users."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, LiteralString, NamedTuple

import psycopg

from worker.inbox.queries import ERASED_NOTE
from worker.mirror.events import USER_TYPES, Envelope

# The events in one statement, as worker.inbox.queries.INSERT_EVENT stores one: an
# erased user's without its payload and closed as ignored, a stored svix-id left alone.
# Read from a stage that binary COPY filled (encoded in C, not as Python-built arrays),
# emptied as it is read. Returns the inserted rows' statuses: pending ones are to apply.
# A row the caller already applied comes closed, as FINISH_EVENTS would have closed it
# (one attempt, its outcome, processed now): not written twice.
CREATE_STAGE: Final[LiteralString] = """
CREATE TEMP TABLE IF NOT EXISTS inbox_stage (
    svix_id text, event_type text, payload bytea, user_id text, version_ms bigint,
    event_ms bigint, status text, last_error text, attempts integer
) ON COMMIT DELETE ROWS
"""
STAGE_COLUMNS: Final = ("text", "text", "bytea", "text", "int8", "int8", "text", "text", "int4")
COPY_STAGE: Final[LiteralString] = "COPY inbox_stage FROM STDIN (FORMAT BINARY)"
STORE_MANY: Final[LiteralString] = """
WITH p AS (DELETE FROM inbox_stage RETURNING *)
INSERT INTO clerk.webhook_events
    (svix_id, event_type, payload, user_id, version_ms, event_ms, status, processed_at,
     last_error, attempts, source)
SELECT p.svix_id, p.event_type, CASE WHEN e.user_id IS NULL THEN p.payload END,
       p.user_id, p.version_ms, p.event_ms,
       CASE WHEN e.user_id IS NOT NULL THEN 'ignored' ELSE p.status END,
       CASE WHEN e.user_id IS NOT NULL OR p.status <> 'pending' THEN now() END,
       CASE WHEN e.user_id IS NOT NULL THEN %(erased_note)s ELSE p.last_error END,
       p.attempts,
       %(source)s
FROM p LEFT JOIN clerk.erased_users AS e ON e.user_id = p.user_id
ON CONFLICT (svix_id) DO NOTHING
RETURNING svix_id, status
"""

# svix-ids among these that the inbox holds already.
SELECT_STORED: Final[LiteralString] = """
SELECT svix_id FROM clerk.webhook_events WHERE svix_id = ANY(%(svix_ids)s)
"""


class Closed(NamedTuple):
    """The outcome of an event applied before it is stored: its status and last_error;
    an erased user's is stored without its payload."""

    status: str
    error: str | None = None

    @property
    def erased(self) -> bool:
        return self.error == ERASED_NOTE


def store_many(
    conn: psycopg.Connection,
    events: list[tuple[str, bytes | None, Envelope]],
    *,
    source: str,
    closed: Mapping[str, Closed] | None = None,
) -> list[str]:
    """Insert (svix_id, payload, envelope) events at once; the svix-ids it stored as pending.

    As store_event for each, but for a svix-id repeated within the events (one is stored).
    The events named in closed are stored with their outcome instead (applied already).
    """
    outcomes = closed or {}
    conn.execute(CREATE_STAGE)
    with conn.cursor().copy(COPY_STAGE) as copy:
        copy.set_types(STAGE_COLUMNS)
        for svix_id, raw, env in events:
            done = outcomes.get(svix_id)
            if done is not None:
                payload = None if done.erased else raw
                row = (svix_id, env.event_type, payload, env.user_id, env.version_ms,
                       env.event_ms, done.status, done.error, 1)  # fmt: skip
            else:
                status = "pending" if env.event_type in USER_TYPES else "ignored"
                row = (svix_id, env.event_type, raw, env.user_id, env.version_ms,
                       env.event_ms, status, None, 0)  # fmt: skip
            copy.write_row(row)
    rows = conn.execute(STORE_MANY, {"erased_note": ERASED_NOTE, "source": source}).fetchall()
    return [svix_id for svix_id, status in rows if status == "pending"]


def stored(conn: psycopg.Connection, svix_ids: list[str]) -> set[str]:
    """The svix-ids among these that the inbox holds already."""
    return {row[0] for row in conn.execute(SELECT_STORED, {"svix_ids": svix_ids})}
