"""The worker's side of the inbox: claim due events, close them, count attempts, requeue.

Functions take a connection and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from typing import Any

import psycopg

from worker import db
from worker.inbox import queries

MAX_ATTEMPTS = 5
BACKOFF_S = 2.0


def claim_pending(conn: psycopg.Connection, limit: int) -> list[Any]:
    """Due pending events (skipping those other workers hold), with their users' others."""
    # Binary: payloads arrive as raw bytes, not as hex text twice their size.
    return conn.execute(queries.CLAIM_PENDING, {"limit": limit}, binary=True).fetchall()


def claim_ids(conn: psycopg.Connection, svix_ids: list[str]) -> list[Any]:
    """The named events whatever their status, but for those held or purged."""
    return conn.execute(queries.CLAIM_BY_ID, {"svix_ids": svix_ids}).fetchall()


def finish(conn: db.Executor, closed: list[tuple[str, str, str | None]]) -> None:
    """Close events in one statement: (svix_id, status, last_error) each."""
    if closed:
        conn.execute(
            queries.FINISH_EVENTS,
            {
                "svix_ids": [i for i, _, _ in closed],
                "statuses": [s for _, s, _ in closed],
                "errors": [e for _, _, e in closed],
            },
        )


def record_attempt(conn: psycopg.Connection, svix_ids: list[str], error: str) -> None:
    """An apply of these events crashed: count it, back off, dead after MAX_ATTEMPTS."""
    conn.execute(
        queries.RECORD_ATTEMPT,
        {
            "svix_ids": svix_ids,
            "error": error,
            "max_attempts": MAX_ATTEMPTS,
            "backoff_s": BACKOFF_S,
        },
    )


def next_retry_in(conn: psycopg.Connection) -> float | None:
    """Seconds until the earliest backed-off pending event is due; None when none waits."""
    row = conn.execute(queries.NEXT_RETRY_IN).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def requeue(conn: psycopg.Connection, svix_ids: list[str]) -> int:
    """Put closed events back in line; returns how many changed status."""
    return conn.execute(queries.REQUEUE, {"svix_ids": svix_ids}).rowcount


def count_stale(conn: psycopg.Connection, grace_s: float) -> int:
    """Due pending events received longer than grace_s ago (a lost wake-up)."""
    row = conn.execute(queries.COUNT_STALE_PENDING, {"grace_s": grace_s}).fetchone()
    return int(row[0]) if row else 0
