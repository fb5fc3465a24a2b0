"""The run ledger of backfills (clerk.sync_runs): start, checkpoint, resume and finish a run,
and the latest one for /metrics and the console.

Its SQL lives here, next to the only code that reads these tables.
Functions take a connection and never commit: the caller owns the transaction, so a page's
checkpoint commits together with the page's users.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, LiteralString

import psycopg
from psycopg.rows import class_row, dict_row

log = logging.getLogger(__name__)

START: Final[LiteralString] = """
INSERT INTO clerk.sync_runs (kind, reconcile) VALUES ('backfill', %(reconcile)s)
RETURNING id, started_at, status, pages, users_seen, users_changed, after_user_id, reconcile,
          next_offset
"""

# The most recent run, if it did not succeed: the one --resume continues.
LATEST_UNFINISHED: Final[LiteralString] = """
SELECT id, started_at, status, pages, users_seen, users_changed, after_user_id, reconcile,
       next_offset
FROM (SELECT * FROM clerk.sync_runs ORDER BY id DESC LIMIT 1) AS latest
WHERE status <> 'succeeded'
"""

# A run from before cursor paging (0009) has only an offset, which deletions since may
# have shifted: its listing starts again from the first user, counted afresh. The users
# it stored are no-ops the second time, so users_changed stays right.
REOPEN: Final[LiteralString] = """
UPDATE clerk.sync_runs
SET status = 'running', error = NULL, finished_at = NULL, reconcile = reconcile OR %(reconcile)s,
    pages = CASE WHEN after_user_id IS NULL THEN 0 ELSE pages END,
    users_seen = CASE WHEN after_user_id IS NULL THEN 0 ELSE users_seen END,
    next_offset = 0
WHERE id = %(id)s
RETURNING id, started_at, status, pages, users_seen, users_changed, after_user_id, reconcile,
          next_offset
"""

CHECKPOINT: Final[LiteralString] = """
UPDATE clerk.sync_runs
SET pages = pages + 1,
    users_seen = users_seen + %(seen)s,
    users_changed = users_changed + %(changed)s,
    after_user_id = %(after_user_id)s
WHERE id = %(id)s
"""

REMEMBER_USERS: Final[LiteralString] = """
INSERT INTO clerk.sync_run_users (run_id, user_id)
SELECT %(id)s, u FROM unnest(%(user_ids)s::text[]) AS u
ON CONFLICT DO NOTHING
"""

# The cursor's user was deleted: the listing starts again from the first user, counted afresh.
RESTART_LISTING: Final[LiteralString] = """
UPDATE clerk.sync_runs
SET pages = 0, users_seen = 0, after_user_id = NULL, next_offset = 0
WHERE id = %(id)s
"""

FINISH: Final[LiteralString] = """
UPDATE clerk.sync_runs
SET status = %(status)s, finished_at = now(), error = %(error)s
WHERE id = %(id)s
"""

ADD_TOMBSTONED: Final[LiteralString] = """
UPDATE clerk.sync_runs SET tombstoned = tombstoned + %(count)s WHERE id = %(id)s
"""

# The newest run, whatever its status: what /metrics and the console show.
LATEST: Final[LiteralString] = """
SELECT id, status, started_at, finished_at, users_seen, users_changed, error
FROM clerk.sync_runs
ORDER BY id DESC
LIMIT 1
"""

SELECT_RUN: Final[LiteralString] = """
SELECT id, started_at, finished_at, status, pages, users_seen, users_changed, after_user_id,
       error, reconcile, tombstoned
FROM clerk.sync_runs
WHERE id = %(id)s
"""

# Live users the run did not list, whose last known state predates the listing: a user
# a webhook created or changed after the listing started is never a candidate.
MISSING_USERS: Final[LiteralString] = """
SELECT u.id
FROM clerk.users AS u
WHERE u.deleted_at IS NULL
  AND u.updated_at < %(before)s
  AND NOT EXISTS (SELECT 1 FROM clerk.sync_run_users AS s
                  WHERE s.run_id = %(id)s AND s.user_id = u.id)
ORDER BY u.id
"""

# Held for a session: two backfills never list and reconcile at once.
LOCK_ID: Final = 0x436C65726B42666C  # "ClerkBfl"


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    started_at: datetime
    status: str
    pages: int
    users_seen: int
    users_changed: int
    after_user_id: str | None
    reconcile: bool
    next_offset: int


@dataclass(frozen=True, slots=True)
class Latest:
    """The newest run as /metrics and the console show it."""

    id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    users_seen: int
    users_changed: int
    error: str | None

    @property
    def at(self) -> datetime:
        """When it finished, or started while it runs."""
        return self.finished_at or self.started_at


def latest(conn: psycopg.Connection) -> Latest | None:
    """The newest run (None before the first)."""
    with conn.cursor(row_factory=class_row(Latest)) as cur:
        return cur.execute(LATEST).fetchone()


def try_lock(conn: psycopg.Connection) -> bool:
    """Take the backfill lock for this session (a lost session releases it too)."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_ID,)).fetchone()
    return bool(row and row[0])


def unlock(conn: psycopg.Connection) -> None:
    """Release the lock now: the server ends a closed session's backend a moment later,
    and a run that starts in that moment would find the lock still taken."""
    if not (conn.closed or conn.broken):
        conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))


def start(conn: psycopg.Connection, *, reconcile: bool) -> Run:
    return _one(conn, START, {"reconcile": reconcile})


def resume(conn: psycopg.Connection, *, reconcile: bool) -> Run | None:
    """Reopen the most recent unfinished run, or None when the last run succeeded."""
    with conn.cursor(row_factory=class_row(Run)) as cur:
        latest = cur.execute(LATEST_UNFINISHED).fetchone()
    if latest is None:
        return None
    if latest.after_user_id is None and latest.next_offset > 0:
        log.warning("run predates cursor paging: its listing restarts", extra={"run_id": latest.id})
    return _one(conn, REOPEN, {"id": latest.id, "reconcile": reconcile})


def remember_users(conn: psycopg.Connection, run_id: int, user_ids: list[str]) -> None:
    """Record the users of one applied page (what a reconcile reads), in its transaction."""
    conn.execute(REMEMBER_USERS, {"id": run_id, "user_ids": user_ids})


def checkpoint(
    conn: psycopg.Connection,
    run_id: int,
    *,
    seen: int,
    changed: int,
    after_user_id: str | None,
) -> None:
    """Record one applied page in the run's row: the counters, and the user to go on after
    (the page's users are remember_users's)."""
    params = {"id": run_id, "seen": seen, "changed": changed, "after_user_id": after_user_id}
    conn.execute(CHECKPOINT, params)


def restart_listing(conn: psycopg.Connection, run_id: int) -> None:
    conn.execute(RESTART_LISTING, {"id": run_id})


def finish(conn: psycopg.Connection, run_id: int, status: str, error: str | None = None) -> None:
    conn.execute(FINISH, {"id": run_id, "status": status, "error": error})


def add_tombstoned(conn: psycopg.Connection, run_id: int, count: int) -> None:
    conn.execute(ADD_TOMBSTONED, {"id": run_id, "count": count})


def summary(conn: psycopg.Connection, run_id: int) -> dict[str, Any]:
    """The run's row as reporting sees it (for the command's closing line)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SELECT_RUN, {"id": run_id}).fetchone()
    if row is None:
        raise LookupError(f"sync run {run_id} does not exist")
    return row


def missing_users(conn: psycopg.Connection, run_id: int, before: datetime) -> list[str]:
    return [row[0] for row in conn.execute(MISSING_USERS, {"id": run_id, "before": before})]


def _one(conn: psycopg.Connection, query: LiteralString, params: dict[str, object]) -> Run:
    with conn.cursor(row_factory=class_row(Run)) as cur:
        row = cur.execute(query, params).fetchone()
    if row is None:
        raise LookupError("sync run vanished")
    return row
