"""Coalesced wake-ups: at most one drain task waits in the queue at a time.

The Celery message is only a wake-up call (the inbox holds the event), so a burst of
webhooks needs one queued drain, not one task each. The drain clears the flag before it
claims, so an event committed after the clear always schedules another drain.
"""

from __future__ import annotations

from collections.abc import Callable

import redis

FLAG_SUFFIX = ":drain-scheduled"
# If the queued drain is lost (broker restart), the flag expires and the next event
# schedules again; the beat sweep covers the quiet case.
FLAG_TTL_MS = 5_000


def client(url: str) -> redis.Redis[bytes]:
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def request_drain(conn: redis.Redis[bytes], queue: str, send: Callable[[], object]) -> bool:
    """Send a drain unless one is already queued; True when one was sent."""
    if not conn.set(queue + FLAG_SUFFIX, b"1", nx=True, px=FLAG_TTL_MS):
        return False
    try:
        send()
    except Exception:
        conn.delete(queue + FLAG_SUFFIX)
        raise
    return True


def clear(conn: redis.Redis[bytes], queue: str) -> None:
    conn.delete(queue + FLAG_SUFFIX)
