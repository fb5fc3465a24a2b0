"""Apply inbox events to the mirror: claim, fold per user in key order, write, close.

Functions take a connection and never commit: the caller owns the transaction.
An event newer than everything applied for its user is folded on top of the current
rows (the fast path). An older one ("late") re-folds the user's events from its version
on, starting from what history says held just before it, so that rows and history end
up as if Svix had delivered in order.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from worker import db
from worker.inbox import claim as inbox
from worker.inbox import forget
from worker.mirror import bulk, phone_history, queries, store, user_history
from worker.mirror.events import (
    DELETION_TYPE,
    SMS_TYPE,
    Event,
    EventKey,
    InvalidEvent,
    ms_to_datetime,
    parse_event,
)
from worker.mirror.fold import HistoryRow, UserState, apply_event
from worker.mirror.purged import Recorded, rebuild
from worker.records import record
from worker.sms import ledger
from worker.sms.ledger import Sms

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BatchResult:
    processed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    # Events of erased users: counted as ignored, and their payloads dropped.
    erased: list[str] = field(default_factory=list)
    # The region of each new SMS ledger row ('' when the number names none).
    sms_regions: list[str] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return len(self.processed) + len(self.ignored) + len(self.failed) + len(self.retrying)


def apply_pending(
    conn: psycopg.Connection, *, limit: int = 200, pii_key: bytes | None = None
) -> BatchResult:
    """Claim due pending events (skipping those other workers hold) and apply them.

    pii_key is CLERK_MIRROR_PII_KEY (from the settings): the numbers' hashes are written
    under it, or left NULL without one, for `clerk-mirror rehash` to fill.
    """
    return apply_or_isolate(conn, lambda: inbox.claim_pending(conn, limit), pii_key)


def apply_ids(
    conn: psycopg.Connection, svix_ids: list[str], *, pii_key: bytes | None = None
) -> BatchResult:
    """Apply the named events whatever their status: safe, since applying is idempotent."""
    return apply_or_isolate(conn, lambda: inbox.claim_ids(conn, svix_ids), pii_key)


def apply_or_isolate(
    conn: psycopg.Connection, claim: Callable[[], list[Any]], pii_key: bytes | None = None
) -> BatchResult:
    """Apply a claimed batch; if it raises, undo it and apply it again user by user.

    One bad event then costs its own user an attempt (and, in the end, a dead letter)
    instead of blocking every other user claimed with it. A lost connection is not the
    batch's fault: it goes to the caller, whose retry covers it.
    """
    try:
        with conn.transaction():
            return apply_rows(conn, claim(), pii_key=pii_key)
    except Exception as exc:
        if db.connection_lost(conn, exc):
            raise
        log.exception("batch failed, applying user by user")
        return apply_rows(conn, claim(), isolate=True, pii_key=pii_key)


def apply_rows(
    conn: psycopg.Connection,
    rows: list[Any],
    *,
    isolate: bool = False,
    pii_key: bytes | None = None,
) -> BatchResult:
    result = BatchResult()
    errors: dict[str, str] = {}
    by_user: dict[str, list[Event]] = defaultdict(list)
    sms: dict[str | None, list[Sms]] = defaultdict(list)
    for svix_id, event_type, payload, _attempts in rows:
        try:
            if event_type == SMS_TYPE:
                raw = bytes(payload) if payload is not None else b""
                message = ledger.parse_payload(svix_id, raw)
                sms[message.user_id].append(message)
                continue
            event = _event(svix_id, payload)
        except InvalidEvent as exc:
            reason = "payload was purged" if payload is None else str(exc)
            log.warning("event cannot be applied", extra={"svix_id": svix_id, "error": reason})
            errors[svix_id] = reason
            result.failed.append(svix_id)
            continue
        if event is None:
            result.ignored.append(svix_id)
        else:
            by_user[event.user_id].append(event)
    if isolate:
        # In LOCK_USERS_TO_APPLY's order: each savepoint keeps its user's lock to the commit.
        for user_id in sorted(set(by_user) | {u for u in sms if u is not None}):
            group = {user_id: by_user[user_id]} if user_id in by_user else {}
            _apply_isolated(conn, group, sms.get(user_id, []), result, pii_key)
        if None in sms:
            _apply_isolated(conn, {}, sms[None], result, pii_key)
        _finish(conn, result, errors)
        forget.events(conn, result.erased)
        return result
    tail = bulk.Tail()
    if by_user or sms:
        messages = [m for group in sms.values() for m in group]
        erased = _apply_users(conn, by_user, messages, result, pii_key, tail)
        _count(result, by_user, messages, erased)
    _finish(tail, result, errors)
    tail.send(conn)
    forget.events(conn, result.erased)
    return result


@record
class Parsed:
    """A payload parsed before its rows reach apply_rows (a backfill parses a page while
    it writes the one before): its event, or why it cannot be applied."""

    event: Event | None
    error: str | None = None


def parse_ahead(svix_id: str, body: dict[str, Any]) -> Parsed:
    try:
        return Parsed(parse_event(svix_id, body))
    except InvalidEvent as exc:
        return Parsed(None, str(exc))


def _event(svix_id: str, payload: Any) -> Event | None:
    """A row's event: parsed now from its bytes, or earlier (Parsed)."""
    if isinstance(payload, Parsed):
        if payload.error is not None:
            raise InvalidEvent(payload.error)
        return payload.event
    return parse_event(svix_id, bytes(payload) if payload is not None else b"")


def _apply_isolated(
    conn: psycopg.Connection,
    group: dict[str, list[Event]],
    messages: list[Sms],
    result: BatchResult,
    pii_key: bytes | None,
) -> None:
    ids = [e.key.svix_id for events in group.values() for e in events]
    ids += [m.svix_id for m in messages]
    regions = len(result.sms_regions)
    try:
        with conn.transaction():
            tail = bulk.Tail()
            erased = _apply_users(conn, group, messages, result, pii_key, tail)
            tail.send(conn)
    except Exception as exc:
        if db.connection_lost(conn, exc):
            raise
        log.exception("apply failed", extra={"svix_ids": ids})
        inbox.record_attempt(conn, ids, db.describe_error(exc))
        result.retrying += ids
        del result.sms_regions[regions:]
    else:
        _count(result, group, messages, erased)


def _count(
    result: BatchResult, by_user: dict[str, list[Event]], messages: list[Sms], erased: set[str]
) -> None:
    owned: list[tuple[str | None, list[str]]] = [
        (u, [e.key.svix_id for e in events]) for u, events in by_user.items()
    ]
    owned += [(m.user_id, [m.svix_id]) for m in messages]
    for user_id, ids in owned:
        if user_id in erased:
            result.ignored += ids
            result.erased += ids
        else:
            result.processed += ids


def _apply_users(
    conn: psycopg.Connection,
    by_user: dict[str, list[Event]],
    messages: list[Sms],
    result: BatchResult,
    pii_key: bytes | None,
    tail: bulk.Tail,
) -> set[str]:
    """Fold the users' events and write the SMS ledger's rows; returns the erased users,
    whose events it skips. The mirror's writes go to tail, for the caller to send."""
    locked = sorted(set(by_user) | {m.user_id for m in messages if m.user_id is not None})
    # One round trip: the users' locks, then, each statement with its own snapshot taken
    # under the locks (so an erasure committed meanwhile is seen: erasure is for good),
    # whether they were erased and their rows (an erased user's are not used).
    with conn.pipeline():
        conn.execute(queries.LOCK_USERS_TO_APPLY, {"user_ids": locked})
        found = conn.execute(queries.SELECT_ERASED, {"user_ids": locked})
        loaded = store.start_loading(conn, sorted(by_user)) if by_user else None
    erased = {row[0] for row in found}
    kept = [m for m in messages if m.user_id not in erased]
    result.sms_regions += ledger.write(conn, kept, pii_key=pii_key)
    user_ids = [u for u in sorted(by_user) if u not in erased]
    if user_ids and loaded is not None:
        states = loaded()
        _fold_users(conn, by_user, {u: states[u] for u in user_ids}, pii_key, tail)
    return erased


def _fold_users(
    conn: psycopg.Connection,
    by_user: dict[str, list[Event]],
    states: dict[str, UserState],
    pii_key: bytes | None,
    tail: bulk.Tail,
) -> None:
    history: list[HistoryRow] = []
    # Phones whose history rows this batch inserts or deletes: their facts are recomputed.
    touched: set[str] = set()
    refolded: set[str] = set()
    for user_id, state in states.items():
        events = sorted(by_user[user_id], key=lambda e: e.key)
        if state.in_order(events[0].key):
            for event in events:
                history += apply_event(state, event)
        else:
            # A re-fold reads and writes as it goes, on conn, before the tail's writes.
            touched |= _refold(conn, state, events, pii_key)
            refolded.add(user_id)
    phone_history.write(conn, history, pii_key=pii_key, out=tail)
    changed = touched | {row.phone_number_id for row in history}
    phone_history.refresh_facts(tail, changed)
    user_rows = [row for state in states.values() for row in state.user_rows]
    user_history.write(conn, user_rows, tail)
    # A re-fold may have replaced user rows too: its users count as written.
    written = {row.user_id for row in history} | {row.user_id for row in user_rows}
    store.refresh_user_facts(tail, written | refolded)
    # The current rows last: the phones' upsert takes the count row of each number it adds
    # or drops (their triggers), which a concurrent transaction writing the same number
    # holds until it commits. Written first, the rest of this batch waited behind that
    # commit; now only the primary-phone check and closing the inbox rows do. Nothing
    # before needs the new current rows: the facts read the histories alone, the phone
    # history's sharing trigger reads the phones as they stand, and the phones' triggers
    # fold again every number whose holding their upsert changes.
    store.write_states(conn, states.values(), pii_key=pii_key, out=tail)


def _refold(
    conn: psycopg.Connection, state: UserState, batch: list[Event], pii_key: bytes | None
) -> set[str]:
    """Fold the user's events again from the oldest one in the batch; replace what differs.

    Returns the phones whose history rows it inserted or deleted.

    Events whose payload was purged are rebuilt from history (worker.mirror.purged), so
    a re-fold is always possible and the batch's newer events reach the current rows.
    """
    since = ms_to_datetime(batch[0].key.version_ms)
    recorded = Recorded(
        phones=phone_history.load_checkpoint(conn, state.user_id, since),
        tracked=user_history.load_checkpoint(conn, state.user_id, since),
        phone_rows=phone_history.load_from(conn, state.user_id, since),
        user_rows=user_history.load_from(conn, state.user_id, since),
        fields=state.fields,
    )
    window = batch + _applied_since(conn, state, batch, recorded)
    deleted_before = state.deleted_at is not None and state.deleted_at < since
    fresh = UserState(
        state.user_id,
        fields=state.fields,
        deleted_at=state.deleted_at if deleted_before else None,
        phones=dict(recorded.phones),
        tracked=recorded.tracked,
    )
    rows: list[HistoryRow] = []
    for event in sorted(window, key=lambda e: e.key):
        rows += apply_event(fresh, event)
    user_history.replace(conn, recorded.user_rows, fresh.user_rows)
    changed = phone_history.replace(conn, recorded.phone_rows, rows, pii_key=pii_key)
    state.fields, state.deleted_at = fresh.fields, fresh.deleted_at
    state.key = max(key for key in (state.key, fresh.key) if key is not None)
    if deleted_before:
        # In order, nothing after the deletion counts: no phone is written again (the
        # history checkpoint may still list a phone id another user has taken since).
        return changed
    # A phone the user holds that the re-fold never reaches (created after a deletion that
    # now comes first, which ends the fold) never was: in-order delivery has no row of it.
    for phone_id in set(state.phones) - set(fresh.phones):
        del state.phones[phone_id]
        state.dirty_phones.discard(phone_id)
        state.removed_phones.add(phone_id)
    state.phones.update(fresh.phones)
    state.dirty_phones.update(fresh.phones)
    return changed


def _applied_since(
    conn: psycopg.Connection, state: UserState, batch: list[Event], recorded: Recorded
) -> list[Event]:
    """The user's applied events from the batch's oldest version on, purged ones rebuilt."""
    params = {
        "user_id": state.user_id,
        "since_ms": batch[0].key.version_ms,
        "exclude": [e.key.svix_id for e in batch],
    }
    events: list[Event] = []
    rows = conn.execute(queries.SELECT_APPLIED_EVENTS, params).fetchall()
    for svix_id, payload, event_type, version_ms, event_ms in rows:
        if payload is None:
            key = EventKey(version_ms, event_ms, svix_id)
            events.append(rebuild(key, state.user_id, event_type == DELETION_TYPE, recorded))
            continue
        try:
            event = parse_event(svix_id, bytes(payload))
        except InvalidEvent:
            continue
        if event is not None:
            events.append(event)
    return events


def _finish(conn: bulk.Executor, result: BatchResult, errors: dict[str, str]) -> None:
    outcomes = [("processed", result.processed), ("ignored", result.ignored)]
    outcomes.append(("failed", result.failed))
    inbox.finish(conn, [(i, s, errors.get(i)) for s, ids in outcomes for i in ids])
