"""Coalesced wake-ups: one drain waits in the queue at a time, one more per retry second.

The Celery message is only a wake-up call (the inbox holds the event), so a burst of
webhooks needs one queued drain, not one task each. The flag means "a drain will claim
after your commit": the web sends a drain only when it can set it. A drain keeps it set
while its claims keep finding events, and claims again after it clears it, so an event
whose wake-up found the flag set is claimed by that drain, and one committed after the
clear schedules another. A backlog asks for a second drain under a flag of its own (the
first is held). Events backing off after a failed apply get a delayed drain for when they
are due: one per second of due time, however many drains ask for it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import redis

FLAG_SUFFIX = ":drain-scheduled"
HELP_SUFFIX = ":drain-help"
RETRY_SUFFIX = ":retry-drain-at:"
# If the queued drain is lost (broker restart) or the one holding the flag dies, the flag
# expires and the next event schedules again; the beat sweep covers the quiet case.
FLAG_TTL_MS = 5_000
# A drain that holds the flag sets it again this often, well within its TTL.
HOLD_RENEW_S = 1.0


def client(url: str) -> redis.Redis[bytes]:
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def request_drain(conn: redis.Redis[bytes], queue: str, send: Callable[[], object]) -> bool:
    """Send a drain unless one is already queued or claiming; True when one was sent."""
    return _send_once(conn, queue + FLAG_SUFFIX, send)


def request_help(conn: redis.Redis[bytes], queue: str, send: Callable[[], object]) -> bool:
    """Send a second drain for a backlog unless one is already queued; True when sent."""
    return _send_once(conn, queue + HELP_SUFFIX, send)


def _send_once(conn: redis.Redis[bytes], key: str, send: Callable[[], object]) -> bool:
    if not conn.set(key, b"1", nx=True, px=FLAG_TTL_MS):
        return False
    try:
        send()
    except Exception:
        conn.delete(key)
        raise
    return True


def started(conn: redis.Redis[bytes], queue: str) -> None:
    """A drain starts: it holds the flag, and a backlog may ask for help again."""
    with conn.pipeline(transaction=False) as pipe:
        pipe.delete(queue + HELP_SUFFIX)
        pipe.set(queue + FLAG_SUFFIX, b"1", px=FLAG_TTL_MS)
        pipe.execute()


def hold(conn: redis.Redis[bytes], queue: str) -> None:
    """Set the flag again for a drain that will claim again (it would expire)."""
    conn.set(queue + FLAG_SUFFIX, b"1", px=FLAG_TTL_MS)


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
