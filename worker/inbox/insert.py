"""The inbox: where a verified event is made durable before we answer 2xx."""

from __future__ import annotations

import psycopg

from worker.inbox import queries, redact
from worker.mirror.events import APPLIED_TYPES, Envelope


def store_event(
    conn: psycopg.Connection,
    svix_id: str,
    payload: bytes,
    env: Envelope,
    *,
    source: str = "webhook",
) -> bool:
    """Insert one event; False when the svix-id was already there (a redelivery).

    An erased user's event is stored without its payload and closed as ignored. Only what
    the mirror applies is kept of the payload (worker.inbox.redact), here, before the commit.
    """
    status = "pending" if env.event_type in APPLIED_TYPES else "ignored"
    cur = conn.execute(
        queries.INSERT_EVENT,
        {
            "svix_id": svix_id,
            "event_type": env.event_type,
            "payload": redact.kept(env.event_type, payload),
            "user_id": env.user_id,
            "version_ms": env.version_ms,
            "event_ms": env.event_ms,
            "status": status,
            "source": source,
            "erased_note": queries.ERASED_NOTE,
        },
    )
    return cur.rowcount == 1


def store_failed(
    conn: psycopg.Connection, svix_id: str, payload: bytes, env: Envelope, error: str, source: str
) -> None:
    """Record an event that could not be stored as it is: a failed row with the reason,
    for an operator to redrive; nothing when the svix-id is there already."""
    params = {
        "svix_id": svix_id,
        "event_type": env.event_type,
        "payload": redact.kept(env.event_type, payload),
        "user_id": env.user_id,
        "version_ms": env.version_ms,
        "event_ms": env.event_ms,
        "error": error,
        "source": source,
    }
    conn.execute(queries.STORE_FAILED, params)
