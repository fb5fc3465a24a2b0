"""The mirror's rules as a pure fold: a user's state, one event at a time, in key order.

Applying a user's events in EventKey order from any earlier state gives the same rows
and the same history whatever order Svix delivered them in; the database layer only
decides where to start the fold (see worker.mirror.apply).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from worker.mirror.events import Deletion, Event, EventKey, PhoneValues, UserFields, ms_to_datetime
from worker.records import record

CREATED, UPDATED, DELETED = "created", "updated", "deleted"


@dataclass(slots=True)
class PhoneRow:
    user_id: str
    values: PhoneValues
    deleted_at: datetime | None = None


@record
class HistoryRow:
    phone_number_id: str
    user_id: str
    change: str
    values: PhoneValues
    deleted_at: datetime | None
    svix_id: str
    effective_at: datetime
    event_at: datetime


class UserTrack(NamedTuple):
    """The user fields that clerk.user_history follows; a change of one writes a row."""

    primary_phone_number_id: str | None
    two_factor_enabled: bool | None
    totp_enabled: bool | None
    backup_code_enabled: bool | None

    @classmethod
    def of(cls, fields: UserFields) -> UserTrack:
        return cls(
            fields.primary_phone_number_id,
            fields.two_factor_enabled,
            fields.totp_enabled,
            fields.backup_code_enabled,
        )


@record
class UserHistoryRow:
    user_id: str
    change: str
    values: UserTrack
    deleted_at: datetime | None
    svix_id: str
    effective_at: datetime
    event_at: datetime


@dataclass(slots=True)
class UserState:
    """A user as the mirror holds it; fields is None until a snapshot was seen.

    tracked is what user history last recorded before the events being folded (None:
    nothing yet); user_rows collects the user-history rows the fold writes.
    """

    user_id: str
    fields: UserFields | None = None
    deleted_at: datetime | None = None
    key: EventKey | None = None
    phones: dict[str, PhoneRow] = field(default_factory=dict)
    dirty_phones: set[str] = field(default_factory=set)
    # Phones a re-fold found the user never had (worker.mirror.apply): their rows go.
    removed_phones: set[str] = field(default_factory=set)
    tracked: UserTrack | None = None
    user_rows: list[UserHistoryRow] = field(default_factory=list)

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
        if state.tracked is not None:
            state.user_rows.append(_user_row(state, DELETED, state.tracked, event))
        return _delete_missing(state, set(), event)
    state.fields = event.user
    _track(state, UserTrack.of(event.user), event)
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


def _track(state: UserState, values: UserTrack, event: Event) -> None:
    # User history, like phone history, has a row only where a followed field changed.
    if values != state.tracked:
        change = CREATED if state.tracked is None else UPDATED
        state.user_rows.append(_user_row(state, change, values, event))
        state.tracked = values


def _user_row(state: UserState, change: str, values: UserTrack, event: Event) -> UserHistoryRow:
    return UserHistoryRow(
        state.user_id,
        change,
        values,
        state.deleted_at,
        event.key.svix_id,
        event.effective_at,
        ms_to_datetime(event.key.event_ms),
    )


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
