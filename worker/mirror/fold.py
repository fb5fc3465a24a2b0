"""The mirror's rules as a pure fold: a user's state, one event at a time, in key order.

Applying a user's events in EventKey order from any earlier state gives the same rows
and the same history whatever order Svix delivered them in; the database layer only
decides where to start the fold (see worker.mirror.apply).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from worker.mirror.events import Deletion, Event, EventKey, PhoneValues, UserFields, ms_to_datetime

CREATED, UPDATED, DELETED = "created", "updated", "deleted"


@dataclass(slots=True)
class PhoneRow:
    user_id: str
    values: PhoneValues
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    phone_number_id: str
    user_id: str
    change: str
    values: PhoneValues
    deleted_at: datetime | None
    svix_id: str
    effective_at: datetime
    event_at: datetime


@dataclass(slots=True)
class UserState:
    """A user as the mirror holds it; fields is None until a snapshot was seen."""

    user_id: str
    fields: UserFields | None = None
    deleted_at: datetime | None = None
    key: EventKey | None = None
    phones: dict[str, PhoneRow] = field(default_factory=dict)
    dirty_phones: set[str] = field(default_factory=set)

    def in_order(self, key: EventKey) -> bool:
        """True when key is newer than everything applied, so it can go on top."""
        return self.key is None or key > self.key


def apply_event(state: UserState, event: Event) -> list[HistoryRow]:
    """Fold one event into state and return the history rows it writes."""
    state.key = event.key if state.key is None else max(state.key, event.key)
    if state.deleted_at is not None:
        # Deletion is terminal: Clerk never reuses a user id, so nothing after it counts.
        return []
    if isinstance(event, Deletion):
        state.deleted_at = event.effective_at
        return _delete_missing(state, set(), event)
    state.fields = event.user
    rows = []
    for phone_id, values in event.phones:
        old = state.phones.get(phone_id)
        if old is not None and old.deleted_at is None and old.values == values:
            continue
        change = UPDATED if old is not None and old.deleted_at is None else CREATED
        state.phones[phone_id] = PhoneRow(state.user_id, values)
        state.dirty_phones.add(phone_id)
        rows.append(_row(state, phone_id, change, event))
    present = {phone_id for phone_id, _ in event.phones}
    rows += _delete_missing(state, present, event)
    return rows


def _delete_missing(state: UserState, present: set[str], event: Event) -> list[HistoryRow]:
    # A snapshot is complete: a live phone it does not list was removed in Clerk.
    rows = []
    for phone_id, row in sorted(state.phones.items()):
        if phone_id not in present and row.deleted_at is None:
            row.deleted_at = event.effective_at
            state.dirty_phones.add(phone_id)
            rows.append(_row(state, phone_id, DELETED, event))
    return rows


def _row(state: UserState, phone_id: str, change: str, event: Event) -> HistoryRow:
    phone = state.phones[phone_id]
    return HistoryRow(
        phone_id,
        state.user_id,
        change,
        phone.values,
        phone.deleted_at,
        event.key.svix_id,
        event.effective_at,
        ms_to_datetime(event.key.event_ms),
    )
