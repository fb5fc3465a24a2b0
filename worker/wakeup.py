"""Coalesced wake-ups: one drain waits in the queue at a time, one more per retry second.

The Celery message is only a wake-up call (the inbox holds the event), so a burst of
webhooks needs one queued drain, not one task each. The drain clears the flag before it
claims, so an event committed after the clear always schedules another drain. Events
backing off after a failed apply get a delayed drain for when they are due: one per
second of due time, however many drains ask for it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import redis

FLAG_SUFFIX = ":drain-scheduled"
RETRY_SUFFIX = ":retry-drain-at:"
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


def request_retry(
    conn: redis.Redis[bytes], queue: str, delay_s: float, send: Callable[[float], object]
) -> bool:
    """Send a drain due in delay_s (rounded up to the second) unless one is already due then.

    send gets the countdown in seconds. The flag expires when that drain is due, so the
    drain itself can ask for the next retry.
    """
    due = math.ceil(time.time() + max(delay_s, 0.0))
    countdown = max(due - time.time(), 0.001)
    key = f"{queue}{RETRY_SUFFIX}{due}"
    if not conn.set(key, b"1", nx=True, px=math.ceil(countdown * 1000)):
        return False
    try:
        send(countdown)
    except Exception:
        conn.delete(key)
        raise
    return True
