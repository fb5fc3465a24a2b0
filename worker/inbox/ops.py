"""Operator actions on the inbox: select events, its status (counts and lag), purge payloads.

Functions take a connection and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

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


@dataclass(frozen=True, slots=True)
class InboxStatus:
    """Events by status, the mirror's lag, the last event received."""

    counts: dict[str, int]  # by status: every status, or only OPEN ones
    oldest_pending_age: timedelta | None  # None: nothing pending
    last_received: dict[str, Any] | None  # None: nothing received, or not asked for


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
    counts.update(dict.fromkeys(("processed", "ignored"), 0))
    counts.update({s: int(n) for s, n in conn.execute(queries.CLOSED_COUNTS)})
    last = conn.execute(queries.LAST_RECEIVED).fetchone()
    last_received = None
    if last is not None:
        keys = ("svix_id", "event_type", "status", "received_at")
        last_received = dict(zip(keys, last, strict=True))
    return InboxStatus({s: counts[s] for s in STATUSES}, age, last_received)


def purge(conn: psycopg.Connection, older_than: timedelta, *, dry_run: bool = False) -> int:
    """Drop payloads of processed and ignored events closed before `older_than` ago."""
    if older_than < timedelta(0):
        raise ValueError("older_than must not be negative")
    params = {"older_than": older_than}
    if dry_run:
        row = conn.execute(queries.COUNT_PURGEABLE, params).fetchone()
        return int(row[0]) if row else 0
    return conn.execute(queries.PURGE_PAYLOADS, params).rowcount


def parse_age(text: str) -> timedelta:
    """'30d' or '12h' as a timedelta."""
    match = _AGE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an age like 30d or 12h")
    number, unit = int(match.group(1)), match.group(2)
    return timedelta(days=number) if unit == "d" else timedelta(hours=number)
