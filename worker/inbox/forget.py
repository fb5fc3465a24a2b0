"""Forgetting events for erasure: payload and error text gone, closed as ignored.

One statement does it (queries.FORGET), whoever asks: the worker for the claimed events
of an erased user, erasure for a user's events and for the events that mention them.
Functions take a connection and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections import Counter

import psycopg

from worker.inbox import queries


def events(conn: psycopg.Connection, svix_ids: list[str]) -> int:
    """Forget these events; how many changed."""
    return _forget(conn, svix_ids, []) if svix_ids else 0


def of_users(conn: psycopg.Connection, user_ids: list[str]) -> int:
    """Forget every event of these users, whatever its status; how many changed."""
    return _forget(conn, [], user_ids) if user_ids else 0


def mentioning(conn: psycopg.Connection, owners: list[str], needles: list[str]) -> dict[str, int]:
    """Forget the events of no user that hold a needle (owners[i]'s is needles[i]); how many
    for each owner, an event counting for every owner whose needle it holds."""
    if not needles:
        return {}
    params = {"owners": owners, "needles": needles}
    hits = conn.execute(queries.MENTIONS, params).fetchall()
    if hits:
        _forget(conn, [svix_id for svix_id, _ in hits], [])
    return dict(Counter(owner for _, held in hits for owner in held))


def _forget(conn: psycopg.Connection, svix_ids: list[str], user_ids: list[str]) -> int:
    params = {"svix_ids": svix_ids, "user_ids": user_ids, "erased_note": queries.ERASED_NOTE}
    return conn.execute(queries.FORGET, params).rowcount
