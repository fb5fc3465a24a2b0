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

from worker.inbox import claim as inbox
from worker.mirror import queries, store, user_history
from worker.mirror.events import Event, InvalidEvent, ms_to_datetime, parse_event
from worker.mirror.fold import HistoryRow, UserState, apply_event

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BatchResult:
    processed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return len(self.processed) + len(self.ignored) + len(self.failed) + len(self.retrying)


def apply_pending(conn: psycopg.Connection, *, limit: int = 200) -> BatchResult:
    """Claim due pending events (skipping those other workers hold) and apply them."""
    return apply_or_isolate(conn, lambda: inbox.claim_pending(conn, limit))


def apply_ids(conn: psycopg.Connection, svix_ids: list[str]) -> BatchResult:
    """Apply the named events whatever their status: safe, since applying is idempotent."""
    return apply_or_isolate(conn, lambda: inbox.claim_ids(conn, svix_ids))


def apply_or_isolate(conn: psycopg.Connection, claim: Callable[[], list[Any]]) -> BatchResult:
    """Apply a claimed batch; if it raises, undo it and apply it again user by user.

    One bad event then costs its own user an attempt (and, in the end, a dead letter)
    instead of blocking every other user claimed with it. Connection errors are not
    the batch's fault: they go to the caller, whose retry covers them.
    """
    try:
        with conn.transaction():
            return apply_rows(conn, claim())
    except psycopg.OperationalError:
        raise
    except Exception:
        log.exception("batch failed, applying user by user")
        return apply_rows(conn, claim(), isolate=True)


def apply_rows(conn: psycopg.Connection, rows: list[Any], *, isolate: bool = False) -> BatchResult:
    result = BatchResult()
    errors: dict[str, str] = {}
    by_user: dict[str, list[Event]] = defaultdict(list)
    for svix_id, _event_type, payload, _attempts in rows:
        try:
            event = parse_event(svix_id, bytes(payload) if payload is not None else b"")
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
        for user_id in sorted(by_user):
            _apply_isolated(conn, {user_id: by_user[user_id]}, result)
    elif by_user:
        _apply_users(conn, by_user)
        result.processed += [e.key.svix_id for events in by_user.values() for e in events]
    _finish(conn, result, errors)
    return result


def _apply_isolated(
    conn: psycopg.Connection, group: dict[str, list[Event]], result: BatchResult
) -> None:
    ids = [e.key.svix_id for events in group.values() for e in events]
    try:
        with conn.transaction():
            _apply_users(conn, group)
    except psycopg.OperationalError:
        raise
    except Exception as exc:
        log.exception("apply failed", extra={"svix_ids": ids})
        inbox.record_attempt(conn, ids, _describe(exc))
        result.retrying += ids
    else:
        result.processed += ids


def _apply_users(conn: psycopg.Connection, by_user: dict[str, list[Event]]) -> None:
    user_ids = sorted(by_user)
    conn.execute(queries.LOCK_USERS, {"user_ids": user_ids})
    states = store.load_states(conn, user_ids)
    history: list[HistoryRow] = []
    for user_id in user_ids:
        events = sorted(by_user[user_id], key=lambda e: e.key)
        state = states[user_id]
        if state.in_order(events[0].key):
            for event in events:
                history += apply_event(state, event)
        else:
            _refold(conn, state, events)
    store.write_states(conn, states.values())
    store.write_history(conn, history)
    user_history.write(conn, [row for state in states.values() for row in state.user_rows])


def _refold(conn: psycopg.Connection, state: UserState, late: list[Event]) -> None:
    """Fold the user's events again from the oldest late one, and replace what differs."""
    since_ms = late[0].key.version_ms
    since = ms_to_datetime(since_ms)
    window = list(late)
    params = {
        "user_id": state.user_id,
        "since_ms": since_ms,
        "exclude": [e.key.svix_id for e in late],
    }
    for svix_id, payload in conn.execute(queries.SELECT_APPLIED_EVENTS, params):
        if payload is None:
            _record_history_only(conn, state, late)
            return
        try:
            event = parse_event(svix_id, bytes(payload))
        except InvalidEvent:
            continue
        if event is not None:
            window.append(event)
    deleted_before = state.deleted_at is not None and state.deleted_at < since
    fresh = UserState(
        state.user_id,
        fields=state.fields,
        deleted_at=state.deleted_at if deleted_before else None,
        phones=store.load_checkpoint(conn, state.user_id, since),
        tracked=user_history.load_checkpoint(conn, state.user_id, since),
    )
    rows: list[HistoryRow] = []
    for event in sorted(window, key=lambda e: e.key):
        rows += apply_event(fresh, event)
    user_history.replace_from(conn, state.user_id, since, fresh.user_rows)
    old = store.load_history_from(conn, state.user_id, since)
    wanted = set(rows)
    store.write_history(
        conn, [r for r in rows if r not in old], [hid for r, hid in old.items() if r not in wanted]
    )
    state.fields, state.deleted_at = fresh.fields, fresh.deleted_at
    state.key = max(key for key in (state.key, fresh.key) if key is not None)
    state.phones.update(fresh.phones)
    state.dirty_phones.update(fresh.phones)


def _record_history_only(conn: psycopg.Connection, state: UserState, late: list[Event]) -> None:
    # Some payloads this user's re-fold needs were purged: leave the current rows alone
    # (they are newer) and record each late event in history against what preceded it.
    log.warning(
        "re-fold impossible, payloads purged",
        extra={"user_id": state.user_id, "svix_ids": [e.key.svix_id for e in late]},
    )
    for event in late:
        probe = UserState(
            state.user_id, phones=store.load_checkpoint(conn, state.user_id, event.effective_at)
        )
        probe.tracked = user_history.load_checkpoint(conn, state.user_id, event.effective_at)
        store.write_history(conn, apply_event(probe, event))
        user_history.write(conn, probe.user_rows)


def _finish(conn: psycopg.Connection, result: BatchResult, errors: dict[str, str]) -> None:
    outcomes = [("processed", result.processed), ("ignored", result.ignored)]
    outcomes.append(("failed", result.failed))
    inbox.finish(conn, [(i, s, errors.get(i)) for s, ids in outcomes for i in ids])


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
