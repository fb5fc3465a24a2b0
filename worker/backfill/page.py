"""One listed page of users into the inbox and the mirror, each user on its own.

A user whose event cannot be stored or applied costs that user alone: its inbox row ends
failed (or retrying) with the reason in last_error, and the rest of the page, and the
run's checkpoint, commit. Otherwise every --resume would list the same page and fail
on the same user again. Only a lost connection fails the page: it is the run's problem.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any, Final, LiteralString

import psycopg

from worker import db
from worker.backfill import sync_runs
from worker.inbox.insert import store_event, store_failed
from worker.mirror.apply import apply_ids
from worker.mirror.events import Envelope, envelope

log = logging.getLogger(__name__)

SOURCE: Final = "backfill"

# Users whose current row now comes from one of these events: the ones the page changed.
COUNT_CHANGED: Final[LiteralString] = """
SELECT count(*) FROM clerk.users WHERE version_svix_id = ANY(%(svix_ids)s)
"""


def apply_page(
    conn: psycopg.Connection,
    run_id: int,
    users: list[Any],
    *,
    after_user_id: str | None,
    pii_key: bytes | None = None,
) -> None:
    """Store and apply one page of users in the caller's transaction, then checkpoint."""
    now_ms = time.time_ns() // 1_000_000
    events = [snapshot_event(user, now_ms) for user in users]
    new_ids = store_each(conn, events)
    user_ids = [env.user_id for _, _, env in events if env.user_id]
    # An id already stored is an unchanged user a previous run applied: a no-op.
    changed = apply_each(conn, new_ids, pii_key=pii_key) if new_ids else 0
    sync_runs.checkpoint(
        conn, run_id, user_ids, seen=len(users), changed=changed, after_user_id=after_user_id
    )


def snapshot_event(user: object, now_ms: int) -> tuple[str, bytes, Envelope]:
    """The user.updated event a listed user becomes, under a deterministic svix-id."""
    body = {"object": "event", "type": "user.updated", "timestamp": now_ms, "data": user}
    raw = json.dumps(body, separators=(",", ":")).encode()
    env = event_envelope(body)
    if env.user_id and env.version_ms is not None:
        return f"backfill_{env.user_id}_{env.version_ms}", raw, env
    # Unusable all the same: recorded once as a failed inbox row, whatever the run.
    digest = hashlib.sha256(json.dumps(user, sort_keys=True).encode()).hexdigest()[:24]
    return f"backfill_invalid_{digest}", raw, env


def event_envelope(body: dict[str, Any]) -> Envelope:
    # envelope() is None only when data is not an object: still stored, then failed.
    return envelope(body) or Envelope(body["type"], None, None, body["timestamp"])


def store_each(conn: psycopg.Connection, events: list[tuple[str, bytes, Envelope]]) -> list[str]:
    """Store the page's events; the svix-ids new to the inbox, to apply.

    All at once first (a savepoint per user costs a round trip each); if that fails,
    again user by user, so that the error costs only the user who meets it.
    """
    try:
        with conn.transaction():
            return [i for i, raw, env in events if store_event(conn, i, raw, env, source=SOURCE)]
    except Exception as exc:
        if db.connection_lost(conn, exc):
            raise
        log.exception("page not stored, storing user by user", extra={"events": len(events)})
    return [i for i, raw, env in events if store(conn, i, raw, env, source=SOURCE)]


def store(
    conn: psycopg.Connection, svix_id: str, raw: bytes, env: Envelope, *, source: str
) -> bool:
    """store_event for one user in a savepoint; False when stored before, or failed now."""
    try:
        with conn.transaction():
            return store_event(conn, svix_id, raw, env, source=source)
    except Exception as exc:
        if db.connection_lost(conn, exc):
            raise
        log.exception("event not stored", extra={"svix_id": svix_id})
        _store_failed(conn, svix_id, raw, env, f"not stored: {db.describe_error(exc)}", source)
        return False


def _store_failed(
    conn: psycopg.Connection, svix_id: str, raw: bytes, env: Envelope, error: str, source: str
) -> None:
    try:
        with conn.transaction():
            store_failed(conn, svix_id, raw, env, error, source)
    except Exception as exc:
        if db.connection_lost(conn, exc):
            raise
        # Nothing can be written for this user: the next run lists it again.
        log.exception("event not stored, not even as failed", extra={"svix_id": svix_id})


def apply_each(
    conn: psycopg.Connection, svix_ids: list[str], *, pii_key: bytes | None = None
) -> int:
    """Apply the events, each user isolated by apply_ids; how many users they changed."""
    apply_ids(conn, svix_ids, pii_key=pii_key)
    row = conn.execute(COUNT_CHANGED, {"svix_ids": svix_ids}).fetchone()
    return int(row[0]) if row else 0
