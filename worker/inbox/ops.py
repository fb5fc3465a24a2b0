"""Operator actions on the inbox: select events, its status (counts and lag), retention.

Functions take a connection and never commit: the caller owns the transaction. Retention
comes in batches that in_batches runs one transaction each (purged payloads, removed rows).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from worker.config import SVIX_REDELIVERY_DAYS
from worker.inbox import queries

STATUSES = ("pending", "processed", "ignored", "failed", "dead")
_AGE = re.compile(r"^\s*(\d+)\s*([dh])\s*$")


@dataclass(frozen=True, slots=True)
class Selection:
    """Which inbox events to act on; an empty filter matches everything."""

    svix_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def is_empty(self) -> bool:
        return not (self.svix_ids or self.statuses or self.types or self.since or self.until)

    def params(self) -> dict[str, Any]:
        return {
            "svix_ids": list(self.svix_ids) or None,
            "statuses": list(self.statuses) or None,
            "types": list(self.types) or None,
            "since": self.since,
            "until": self.until,
        }


@dataclass(slots=True)
class Matches:
    """Selected events: those that can be replayed, and those whose payload was purged."""

    ids: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)


OPEN = ("pending", "failed", "dead")
CLOSED = ("processed", "ignored")
# Up to this size (16 MiB) the closed statuses are counted, beyond it estimated: a count
# reads every closed row, tens of milliseconds here and seconds at ten million rows.
EXACT_PAGES = 2048
# Rows a purge or removal batch touches: each batch its own short transaction.
BATCH_ROWS = 2000
# After each batch a purge or removal rests this many times as long as the batch took: on
# a machine of two cores it then takes a tenth of one, and of the disk's writes (a purged
# row is a new row version and an entry in each index: WAL the worker's commits wait
# behind). Resting five times as long left the worker 0.73x of its rate during a 30-day
# purge (docs/benchmarks.md); a daily purge is one day's events, a dozen batches.
REST = 10.0
# Before each batch a purge or removal waits while the worker is behind: an event pending
# for longer than BEHIND (the worker applies a fresh one in tens of milliseconds). It asks
# every YIELD_POLL seconds, at most YIELD_CAP seconds a batch, so that behind a backlog that
# never clears it still goes on, a batch a minute. Its batches' WAL then never competes
# with a worker that has a backlog to drain.
BEHIND = timedelta(seconds=2)
YIELD_POLL, YIELD_CAP = 0.5, 60.0


@dataclass(frozen=True, slots=True)
class InboxStatus:
    """Events by status, the mirror's lag, the last event received."""

    counts: dict[str, int]  # by status: every status, or only OPEN ones
    oldest_pending_age: timedelta | None  # None: nothing pending
    last_received: dict[str, Any] | None  # None: nothing received, or not asked for
    estimated: tuple[str, ...] = ()  # statuses whose count is the planner's estimate


def select_events(conn: psycopg.Connection, selection: Selection) -> Matches:
    """The matching events, oldest received first."""
    matches = Matches()
    for svix_id, purged in conn.execute(queries.SELECT_EVENT_IDS, selection.params()):
        (matches.purged if purged else matches.ids).append(svix_id)
    return matches


def inbox_status(conn: psycopg.Connection, *, closed: bool = True) -> InboxStatus:
    """The inbox's status, for `clerk-mirror status`, the console and /metrics alike.

    With closed=False only what the partial indexes serve (the OPEN counts and the lag),
    for /metrics' frequent scrapes: no processed or ignored counts, no last event.
    """
    row = conn.execute(queries.OPEN_STATUS).fetchone()
    pending, failed, dead, oldest, now = row if row else (0, 0, 0, None, None)
    counts = {"pending": int(pending), "failed": int(failed), "dead": int(dead)}
    age = now - oldest if oldest is not None else None
    if not closed:
        return InboxStatus(counts, age, None)
    counts.update(dict.fromkeys(CLOSED, 0))
    estimated = _closed_counts(conn, counts)
    last = conn.execute(queries.LAST_RECEIVED).fetchone()
    last_received = None
    if last is not None:
        keys = ("svix_id", "event_type", "status", "received_at")
        last_received = dict(zip(keys, last, strict=True))
    return InboxStatus({s: counts[s] for s in STATUSES}, age, last_received, estimated)


def _closed_counts(conn: psycopg.Connection, counts: dict[str, int]) -> tuple[str, ...]:
    """Fill in the closed statuses: counted on a small inbox, else estimated (returned)."""
    row = conn.execute(queries.TABLE_PAGES).fetchone()
    if row is None or int(row[0]) <= EXACT_PAGES:
        counts.update({s: int(n) for s, n in conn.execute(queries.CLOSED_COUNTS)})
        return ()
    counts.update({s: int(n) for s, n in conn.execute(queries.CLOSED_ESTIMATE)})
    return CLOSED


def purgeable(conn: psycopg.Connection, older_than: timedelta) -> int:
    """How many processed and ignored events closed before `older_than` ago hold a payload."""
    row = conn.execute(queries.COUNT_PURGEABLE, {"older_than": _age_checked(older_than)})
    found = row.fetchone()
    return int(found[0]) if found else 0


def purge_batch(conn: psycopg.Connection, older_than: timedelta, batch: int = BATCH_ROWS) -> int:
    """Drop the payloads of at most `batch` of those events, the oldest closed first."""
    params = {"older_than": _age_checked(older_than), "batch": batch}
    return conn.execute(queries.PURGE_PAYLOADS, params).rowcount


class RowRemoval:
    """Batches of the closed rows older than `keep_days` (see REMOVE_CLOSED), each from
    where the one before stopped: call it with a connection for the next batch."""

    def __init__(self, keep_days: int, batch: int = BATCH_ROWS) -> None:
        if keep_days < SVIX_REDELIVERY_DAYS:
            raise ValueError(f"rows are kept at least {SVIX_REDELIVERY_DAYS} days")
        self.keep_days, self.batch = keep_days, batch
        self.after: datetime | None = None

    def __call__(self, conn: psycopg.Connection) -> int:
        params = {"older_than": timedelta(days=self.keep_days), "batch": self.batch}
        removed = conn.execute(queries.REMOVE_CLOSED, {**params, "after": self.after}).fetchall()
        if removed:
            self.after = max(row[0] for row in removed)
        return len(removed)


def remove_batch(conn: psycopg.Connection, keep_days: int, batch: int = BATCH_ROWS) -> int:
    """Remove at most `batch` closed rows older than `keep_days` (see REMOVE_CLOSED)."""
    return RowRemoval(keep_days, batch)(conn)


def purge(conn: psycopg.Connection, older_than: timedelta, *, dry_run: bool = False) -> int:
    """Drop payloads of processed and ignored events closed before `older_than` ago, batch
    after batch in the caller's transaction (in_batches gives each its own)."""
    if dry_run:
        return purgeable(conn, older_than)
    total = 0
    while True:
        done = purge_batch(conn, older_than)
        total += done
        if done < BATCH_ROWS:
            return total


Transaction = Callable[[], AbstractContextManager[psycopg.Connection]]


def worker_behind(conn: psycopg.Connection) -> bool:
    """Whether an event has been pending longer than BEHIND (the pending index's first entry)."""
    row = conn.execute(queries.PENDING_BEFORE, {"age": BEHIND}).fetchone()
    return bool(row and row[0])


@dataclass(slots=True)
class YieldToWorker:
    """Waits, before a retention batch, while `behind` says the worker is behind: it asks
    every `poll` seconds, each time in a transaction of its own, and gives up after `cap`
    seconds of waiting. `waited` adds up the seconds it waited."""

    behind: Callable[[psycopg.Connection], bool] = worker_behind
    poll: float = YIELD_POLL
    cap: float = YIELD_CAP
    sleep: Callable[[float], None] = time.sleep
    waited: float = 0.0

    def __call__(self, transaction: Transaction) -> None:
        waited = 0.0
        while waited < self.cap:
            with transaction() as conn:
                if not self.behind(conn):
                    break
            self.sleep(self.poll)
            waited += self.poll
        self.waited += waited


def in_batches(
    transaction: Transaction,
    step: Callable[[psycopg.Connection], int],
    batch: int = BATCH_ROWS,
    rest: float = REST,
    yield_to: Callable[[Transaction], None] | None = None,
) -> int:
    """Run `step` in transactions of its own (`transaction` opens one and gives its
    connection) until a batch comes back short; returns the rows it touched. Each lasts
    one bounded batch: no lock is held long, the worker never queues behind a purge;
    between batches it rests `rest` times the batch's time, leaving the worker the CPU;
    and before each batch `yield_to` (a YieldToWorker) may wait for the worker."""
    total = 0
    while True:
        if yield_to is not None:
            yield_to(transaction)
        started = time.monotonic()
        with transaction() as conn:
            done = step(conn)
        total += done
        if done < batch:
            return total
        time.sleep(rest * (time.monotonic() - started))


def _age_checked(older_than: timedelta) -> timedelta:
    if older_than < timedelta(0):
        raise ValueError("older_than must not be negative")
    return older_than


# Longer than any inbox has lived, and short enough that now() minus it is a timestamp.
MAX_AGE_DAYS = 100 * 366


def parse_age(text: str) -> timedelta:
    """'30d' or '12h' as a timedelta."""
    match = _AGE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an age like 30d or 12h")
    number, unit = int(match.group(1)), match.group(2)
    days = number if unit == "d" else number / 24
    if days > MAX_AGE_DAYS:
        raise ValueError(f"{text!r} is longer than {MAX_AGE_DAYS} days")
    return timedelta(days=number) if unit == "d" else timedelta(hours=number)
