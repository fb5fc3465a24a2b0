"""Events whose payload was purged, rebuilt from history so that a late event can re-fold.

A snapshot is complete, so the phones it listed are exactly the user's state just after
it, which phone history records row by row (with every column); the user fields it
carried are likewise the state user history records just after it. A purged deletion
needs only its key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from worker.mirror.events import Deletion, Event, EventKey, PhoneValues, Snapshot, UserFields
from worker.mirror.events import ms_to_datetime as at
from worker.mirror.fold import DELETED, HistoryRow, PhoneRow, UserHistoryRow, UserTrack


@dataclass(frozen=True, slots=True)
class Recorded:
    """What history holds of one user for a re-fold from `since`: each phone's and the
    followed fields' state just before it, and every row (with its id) from it on."""

    phones: dict[str, PhoneRow]
    tracked: UserTrack | None
    phone_rows: dict[HistoryRow, int]
    user_rows: dict[UserHistoryRow, int]
    fields: UserFields | None  # the users row now: what the newest snapshot carried


def rebuild(key: EventKey, user_id: str, deletion: bool, recorded: Recorded) -> Event:
    """The event `key` was, as history recorded its effect."""
    if deletion:
        return Deletion(key, user_id)
    moment = (at(key.version_ms), at(key.event_ms), key.svix_id)
    phones: dict[str, tuple[PhoneValues, datetime | None]] = {
        phone_id: (row.values, row.deleted_at) for phone_id, row in recorded.phones.items()
    }
    for row in sorted(recorded.phone_rows, key=lambda r: (r.effective_at, r.event_at, r.svix_id)):
        if (row.effective_at, row.event_at, row.svix_id) <= moment:
            phones[row.phone_number_id] = (row.values, row.deleted_at)
    live = tuple(sorted((pid, v) for pid, (v, deleted_at) in phones.items() if deleted_at is None))
    return Snapshot(key, user_id, _fields(moment, recorded, at(key.version_ms)), live)


def _fields(
    moment: tuple[datetime, datetime, str], recorded: Recorded, updated_at: datetime
) -> UserFields:
    tracked = recorded.tracked
    for row in sorted(recorded.user_rows, key=lambda r: (r.effective_at, r.event_at, r.svix_id)):
        if (row.effective_at, row.event_at, row.svix_id) <= moment and row.change != DELETED:
            tracked = row.values
    base = recorded.fields or UserFields(None, None, None, None, None, updated_at)
    if tracked is None:
        # Mirrored before user history began: the users row is all there is.
        return dataclasses.replace(base, updated_at=updated_at)
    return dataclasses.replace(
        base,
        primary_phone_number_id=tracked.primary_phone_number_id,
        two_factor_enabled=tracked.two_factor_enabled,
        totp_enabled=tracked.totp_enabled,
        backup_code_enabled=tracked.backup_code_enabled,
        updated_at=updated_at,
    )
