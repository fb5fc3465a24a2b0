"""One listed page of users into the inbox and the mirror, as the worker applies a batch.

The page is applied in set-based writes (worker.mirror.apply) of APPLY_USERS users, from
the bodies in hand, then stored in one INSERT with each event already closed. Only when
that fails does it go user by user: a user whose event cannot be stored or applied costs
that user alone, its inbox row ending failed (or retrying) with the reason in last_error,
while the rest of the page and the run's checkpoint commit. Otherwise every --resume would
list the same page and fail on the same user again. Only a lost connection fails the
page: it is the run's problem.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, LiteralString

import psycopg

from worker import db
from worker.backfill import sync_runs
from worker.backfill.clerk_api import Listed
from worker.inbox.insert import store_event, store_failed
from worker.inbox.many import Closed, store_many, stored
from worker.inbox.queries import ERASED_NOTE
from worker.mirror import numbers
from worker.mirror.apply import (
    BatchResult,
    Parsed,
    apply_ids,
    apply_or_isolate,
    apply_rows,
    parse_ahead,
)
from worker.mirror.events import MAX_PHONE_NUMBER, Envelope, envelope

log = logging.getLogger(__name__)

SOURCE: Final = "backfill"

# The tables a page reads and writes, whose statistics a first backfill outgrows: planned
# on those of a nearly empty mirror, every lookup of a page's users by id became a scan of
# the whole table, so each page cost more than the one before (autovacuum analyzes them
# only after its nap, on a busy server much later).
ANALYZE_MIRROR: Final[LiteralString] = """
ANALYZE clerk.users, clerk.phone_numbers, clerk.phone_number_history, clerk.user_history,
        clerk.phone_facts, clerk.user_factor_changes, clerk.webhook_events,
        clerk.sync_run_users
"""

# A page is applied this many users at a time: a whole page of Clerk's (500). Chunks of
# 100 were faster while the apply filled the numbers' intel in a second pass, quadratic in
# the phones of one apply; since the intel is written with each row, whole pages are about
# 7% faster (docs/benchmarks.md, Backfill).
APPLY_USERS: Final = 500

# Users whose current row now comes from one of these events: the ones the page changed.
# Found by the users' primary key (a svix-id names one user's event, so only that user's
# row can carry it): version_svix_id has no index, and a scan of every user for every
# page made a backfill quadratic.
COUNT_CHANGED: Final[LiteralString] = """
SELECT count(*)
FROM clerk.users
WHERE id = ANY(%(user_ids)s) AND version_svix_id = ANY(%(svix_ids)s)
"""


@dataclass(frozen=True, slots=True)
class Page:
    """A listed page made ready to write: each user's event, its body parsed."""

    users: list[Any]
    events: list[tuple[str, bytes | None, Envelope]]
    parsed: list[Parsed]

    @property
    def user_ids(self) -> list[str]:
        return [env.user_id for _, _, env in self.events if env.user_id]


def prepare(listed: list[Listed], classifier: numbers.Classifier | None = None) -> Page:
    """The page's events, made and parsed: the work that needs no database, done while
    the page before is written (its numbers classified by classifier's process, if given).

    Each event's body holds the user's JSON as the page wrote it, as the inbox keeps a
    webhook's body: what json.dumps would write anew differs (a number past a float's
    range came back as Infinity, which jsonb refuses), and cost about 6 µs a user. A user
    whose JSON jsonb would refuse is refused as the endpoint refuses such a body: stored
    failed without its JSON, the reason in last_error.
    """
    users = [item.user for item in listed]
    if classifier is not None:
        classifier.prime(_numbers(users))
    now_ms = time.time_ns() // 1_000_000
    events: list[tuple[str, bytes | None, Envelope]] = []
    parsed: list[Parsed] = []
    for user, text, refused in listed:
        body = snapshot_body(user, now_ms)
        svix_id, raw, env = snapshot_event_of(body, text)
        if refused is None:
            events.append((svix_id, raw, env))
            parsed.append(parse_ahead(svix_id, body))
        else:
            events.append((svix_id, None, env))
            parsed.append(Parsed(None, f"not stored: the user's JSON {refused}"))
    return Page(users, events, parsed)


def _numbers(users: list[Any]) -> Iterator[str]:
    """The numbers the page's phones carry, of a length the parser takes."""
    for user in users:
        phones = user.get("phone_numbers") if isinstance(user, dict) else None
        for phone in phones if isinstance(phones, list) else ():
            number = phone.get("phone_number") if isinstance(phone, dict) else None
            if isinstance(number, str) and len(number) <= MAX_PHONE_NUMBER:
                yield number


def apply_page(
    conn: psycopg.Connection,
    run_id: int,
    page: Page | list[Any],
    *,
    after_user_id: str | None,
    pii_key: bytes | None = None,
    before_checkpoint: Callable[[], None] | None = None,
    raise_deadlock: bool = False,
) -> None:
    """Store and apply one page of users in the caller's transaction, then checkpoint
    (after before_checkpoint, when given: a page's wait for the page before it)."""
    if not isinstance(page, Page):
        page = prepare([Listed(user) for user in page])
    changed = write_page(conn, page, pii_key=pii_key, raise_deadlock=raise_deadlock)
    # The run's users before the wait: only its counters' row is the earlier page's too.
    sync_runs.remember_users(conn, run_id, page.user_ids)
    if before_checkpoint is not None:
        before_checkpoint()
    sync_runs.checkpoint(
        conn, run_id, seen=len(page.users), changed=changed, after_user_id=after_user_id
    )


def write_page(
    conn: psycopg.Connection,
    page: Page,
    *,
    pii_key: bytes | None = None,
    raise_deadlock: bool = False,
) -> int:
    """Store and apply one page in the caller's transaction; how many users it changed.

    An event the inbox holds already is an unchanged user a previous run applied: a no-op.
    The others are applied as parsed, a chunk at a time, then stored closed with their
    outcome, all in one savepoint: each inbox row is written once. If any of it fails, the
    page goes the long way: stored pending (user by user if it must), then applied with
    the drain's ladder (user by user if the chunk fails), so a bad user costs only itself.
    A deadlock is no user's fault: with raise_deadlock, it is raised for the caller to
    write the whole page again.
    """
    known = stored(conn, [i for i, _, _ in page.events])
    events, fresh = [], []
    for event, parsed in zip(page.events, page.parsed, strict=True):
        svix_id, _, env = event
        if svix_id not in known:
            known.add(svix_id)  # a user listed twice is stored and applied once
            events.append(event)
            fresh.append((svix_id, env.event_type, parsed, 0))
    if not fresh:
        return 0
    try:
        with conn.transaction():
            closed: dict[str, Closed] = {}
            for start in range(0, len(fresh), APPLY_USERS):
                chunk = fresh[start : start + APPLY_USERS]
                closed |= _outcomes(chunk, apply_rows(conn, chunk, pii_key=pii_key))
            store_many(conn, events, source=SOURCE, closed=closed)
    except Exception as exc:
        if db.connection_lost(conn, exc):
            raise
        if raise_deadlock and isinstance(exc, psycopg.errors.DeadlockDetected):
            raise
        log.exception("page not written at once, going user by user", extra={"events": len(events)})
        new_ids = set(store_each(conn, events))
        # Rows of this transaction's own, which no other worker can see or hold.
        pending = [row for row in fresh if row[0] in new_ids]
        for start in range(0, len(pending), APPLY_USERS):
            apply_or_isolate(conn, _given(pending[start : start + APPLY_USERS]), pii_key)
    return count_changed(conn, [i for i, _, _ in events], [env.user_id for _, _, env in events])


def _outcomes(chunk: list[tuple[str, str, Parsed, int]], result: BatchResult) -> dict[str, Closed]:
    """How the inbox rows of an applied chunk close, as worker.mirror.apply closes them."""
    errors = {svix_id: parsed.error for svix_id, _, parsed, _ in chunk}
    closed = {svix_id: Closed("processed") for svix_id in result.processed}
    closed |= {svix_id: Closed("ignored") for svix_id in result.ignored}
    closed |= {svix_id: Closed("ignored", ERASED_NOTE) for svix_id in result.erased}
    closed |= {svix_id: Closed("failed", errors.get(svix_id)) for svix_id in result.failed}
    return closed


def _given(rows: list[Any]) -> Callable[[], list[Any]]:
    """The claim of rows in hand: this transaction's own, no other worker sees them."""
    return lambda: rows


def analyze(conn: psycopg.Connection) -> None:
    """Fresh statistics of the mirror's tables (outside any page's transaction)."""
    conn.execute(ANALYZE_MIRROR)


# snapshot_body's keys before its data, as json.dumps writes them (compact).
_SNAPSHOT_HEAD: Final = '{"object":"event","type":"user.updated","timestamp":'


def snapshot_body(user: object, now_ms: int) -> dict[str, Any]:
    """The user.updated event body a listed user becomes."""
    return {"object": "event", "type": "user.updated", "timestamp": now_ms, "data": user}


def snapshot_event_of(body: dict[str, Any], text: str | None = None) -> tuple[str, bytes, Envelope]:
    """The user.updated event of snapshot_body's body, under a deterministic svix-id; its
    bytes hold `text` as its data, when given, for the user's JSON as listed (body["data"]
    parsed)."""
    if text is None:
        raw = json.dumps(body, separators=(",", ":")).encode()
    else:
        raw = f'{_SNAPSHOT_HEAD}{body["timestamp"]},"data":{text}}}'.encode()
    env = event_envelope(body)
    if env.user_id and env.version_ms is not None:
        return f"backfill_{env.user_id}_{env.version_ms}", raw, env
    # Unusable all the same: recorded once as a failed inbox row, whatever the run.
    digest = hashlib.sha256(json.dumps(body["data"], sort_keys=True).encode()).hexdigest()[:24]
    return f"backfill_invalid_{digest}", raw, env


def event_envelope(body: dict[str, Any]) -> Envelope:
    # envelope() is None only when data is not an object: still stored, then failed.
    return envelope(body) or Envelope(body["type"], None, None, body["timestamp"])


def store_each(
    conn: psycopg.Connection, events: list[tuple[str, bytes | None, Envelope]]
) -> list[str]:
    """Store the page's events; the svix-ids new to the inbox and pending, to apply.

    All at once first, in one statement; if that fails, again user by user, each in a
    savepoint, so that the error costs only the user who meets it.
    """
    try:
        with conn.transaction():
            return store_many(conn, events, source=SOURCE)
    except Exception as exc:
        if db.connection_lost(conn, exc):
            raise
        log.exception("page not stored, storing user by user", extra={"events": len(events)})
    return [i for i, raw, env in events if store(conn, i, raw, env, source=SOURCE)]


def store(
    conn: psycopg.Connection, svix_id: str, raw: bytes | None, env: Envelope, *, source: str
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
    conn: psycopg.Connection,
    svix_id: str,
    raw: bytes | None,
    env: Envelope,
    error: str,
    source: str,
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
) -> None:
    """Apply the stored events, each user isolated by apply_ids."""
    apply_ids(conn, svix_ids, pii_key=pii_key)


def count_changed(conn: psycopg.Connection, svix_ids: list[str], user_ids: list[str | None]) -> int:
    """How many users' current rows now come from these events (of these users)."""
    params = {"svix_ids": svix_ids, "user_ids": [u for u in user_ids if u is not None]}
    row = conn.execute(COUNT_CHANGED, params).fetchone()
    return int(row[0]) if row else 0
