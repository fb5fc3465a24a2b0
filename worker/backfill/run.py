"""Fill and reconcile the mirror from Clerk's Backend API, through the webhooks' apply path.

Each listed user becomes a user.updated event in the inbox (source 'backfill') and is
applied by worker.mirror.apply exactly like a webhook, so the newest-wins guard keeps a newer
webhook's state and an older snapshot only lands in history. One transaction per page
holds the page's events, their application and the run's checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final, LiteralString

import psycopg

from worker import db
from worker.backfill import sync_runs
from worker.backfill.clerk_api import PAGE_LIMIT, ClerkClient, parse_rate_limit
from worker.backfill.sync_runs import Run
from worker.config import ConfigError, Settings
from worker.inbox.insert import store_event
from worker.mirror.apply import apply_ids
from worker.mirror.events import Envelope, envelope

log = logging.getLogger(__name__)

# Only users whose last known change is this much older than the listing's start are
# reconciled: Clerk's clock and ours may disagree a little, and a user changed around the
# start is left to the next run rather than risked.
CLOCK_MARGIN: Final = timedelta(minutes=5)

# Users whose current row now comes from one of these events: the ones the page changed.
COUNT_CHANGED: Final[LiteralString] = """
SELECT count(*) FROM clerk.users WHERE version_svix_id = ANY(%(svix_ids)s)
"""

OnPage = Callable[[int], None]


class BackfillBusy(RuntimeError):
    """Another backfill holds the lock: two runs never list and reconcile at once."""


def open_client(settings: Settings, rate_limit: str | None = None) -> ClerkClient:
    """A client from the settings; ConfigError names the variable to fix."""
    if not settings.clerk_secret_key:
        raise ConfigError("CLERK_SECRET_KEY is not set: give it the instance's sk_... secret key")
    if rate_limit is None:
        rate = parse_rate_limit(settings.clerk_api_rate_limit)
    else:
        rate = parse_rate_limit(rate_limit, "--rate-limit")
    return ClerkClient(settings.clerk_api_url, settings.clerk_secret_key, rate_limit=rate)


def run(
    database_url: str,
    client: ClerkClient,
    *,
    resume: bool = False,
    reconcile: bool = False,
    page_size: int = PAGE_LIMIT,
    on_page: OnPage | None = None,
) -> dict[str, Any]:
    """List every user into the mirror (resuming the last unfinished run when asked).

    With reconcile, live users Clerk no longer lists are then tombstoned. Returns the
    run's row; an interrupt or error marks the run so that --resume continues it.
    """
    with db.connect(database_url, autocommit=True) as conn:
        if not sync_runs.try_lock(conn):
            raise BackfillBusy("another backfill is running against this database")
        with conn.transaction():
            current = sync_runs.resume(conn, reconcile=reconcile) if resume else None
            current = current or sync_runs.start(conn, reconcile=reconcile)
        try:
            _list(conn, client, current, page_size, on_page)
            if current.reconcile:
                _reconcile(conn, client, current)
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            _mark(conn, current.id, status, f"{type(exc).__name__}: {exc}"[:500])
            raise
        sync_runs.finish(conn, current.id, "succeeded")
        return sync_runs.summary(conn, current.id)


def _list(
    conn: psycopg.Connection, client: ClerkClient, run: Run, page_size: int, on_page: OnPage | None
) -> None:
    offset = run.next_offset
    while True:
        users = client.list_users(offset, page_size)
        if users:
            with conn.transaction():
                apply_page(conn, run.id, users, next_offset=offset + len(users))
        offset += len(users)
        if on_page:
            on_page(len(users))
        if len(users) < page_size:
            return


def apply_page(
    conn: psycopg.Connection, run_id: int, users: list[Any], *, next_offset: int
) -> None:
    """Store and apply one page of users in the caller's transaction, then checkpoint."""
    now_ms = time.time_ns() // 1_000_000
    new_ids, user_ids = [], []
    for user in users:
        svix_id, raw, env = snapshot_event(user, now_ms)
        if store_event(conn, svix_id, raw, env, source="backfill"):
            new_ids.append(svix_id)
        if env.user_id:
            user_ids.append(env.user_id)
    changed = 0
    if new_ids:
        # An id already stored is an unchanged user a previous run applied: a no-op.
        apply_ids(conn, new_ids)
        row = conn.execute(COUNT_CHANGED, {"svix_ids": new_ids}).fetchone()
        changed = int(row[0]) if row else 0
    sync_runs.checkpoint(
        conn, run_id, user_ids, seen=len(users), changed=changed, next_offset=next_offset
    )


def snapshot_event(user: object, now_ms: int) -> tuple[str, bytes, Envelope]:
    """The user.updated event a listed user becomes, under a deterministic svix-id."""
    body = {"object": "event", "type": "user.updated", "timestamp": now_ms, "data": user}
    raw = json.dumps(body, separators=(",", ":")).encode()
    env = _envelope(body)
    if env.user_id and env.version_ms is not None:
        return f"backfill_{env.user_id}_{env.version_ms}", raw, env
    # Unusable all the same: recorded once as a failed inbox row, whatever the run.
    digest = hashlib.sha256(json.dumps(user, sort_keys=True).encode()).hexdigest()[:24]
    return f"backfill_invalid_{digest}", raw, env


def _reconcile(conn: psycopg.Connection, client: ClerkClient, run: Run) -> None:
    listing_ms = int(run.started_at.timestamp() * 1000)
    candidates = sync_runs.missing_users(conn, run.id, run.started_at - CLOCK_MARGIN)
    # Offset paging can skip a user when others are deleted mid-listing: ask Clerk first.
    gone = [user_id for user_id in candidates if not client.user_exists(user_id)]
    for start in range(0, len(gone), PAGE_LIMIT):
        with conn.transaction():
            ids = [
                _store_deletion(conn, run.id, u, listing_ms)
                for u in gone[start : start + PAGE_LIMIT]
            ]
            apply_ids(conn, ids)
            sync_runs.add_tombstoned(conn, run.id, len(ids))
    log.info("reconciled", extra={"run_id": run.id, "tombstoned": len(gone)})


def _store_deletion(conn: psycopg.Connection, run_id: int, user_id: str, at_ms: int) -> str:
    body = {
        "object": "event",
        "type": "user.deleted",
        "timestamp": at_ms,
        "data": {"id": user_id, "object": "user", "deleted": True},
        "reconcile_run": run_id,
    }
    svix_id = f"reconcile_{run_id}_{user_id}"
    store_event(conn, svix_id, json.dumps(body).encode(), _envelope(body), source="reconcile")
    return svix_id


def _envelope(body: dict[str, Any]) -> Envelope:
    # envelope() is None only when data is not an object: still stored, then failed.
    return envelope(body) or Envelope(body["type"], None, None, body["timestamp"])


def _mark(conn: psycopg.Connection, run_id: int, status: str, error: str) -> None:
    try:
        sync_runs.finish(conn, run_id, status, error)
    except psycopg.Error:
        log.exception("could not record the run's end", extra={"run_id": run_id})
