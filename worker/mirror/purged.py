"""Events whose payload was purged, rebuilt from history so that a late event can re-fold.

A snapshot is complete, so the phones it listed are exactly the user's state just after
it, which history records row by row (with every column). A purged deletion needs only
its key. The user's own fields are not in history; the caller takes them from the
current row, which the newest applied snapshot wrote.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from worker.mirror.events import Deletion, Event, EventKey, PhoneValues, Snapshot, UserFields
from worker.mirror.events import ms_to_datetime as at
from worker.mirror.fold import HistoryRow, PhoneRow


def rebuild(
    key: EventKey,
    user_id: str,
    deletion: bool,
    fields: UserFields | None,
    checkpoint: dict[str, PhoneRow],
    history: list[HistoryRow],
) -> Event:
    """The event `key` was: checkpoint is the state before `history`, both of this user."""
    if deletion:
        return Deletion(key, user_id)
    phones: dict[str, tuple[PhoneValues, datetime | None]] = {
        phone_id: (row.values, row.deleted_at) for phone_id, row in checkpoint.items()
    }
    moment = (at(key.version_ms), at(key.event_ms), key.svix_id)
    for row in sorted(history, key=lambda r: (r.effective_at, r.event_at, r.svix_id)):
        if (row.effective_at, row.event_at, row.svix_id) <= moment:
            phones[row.phone_number_id] = (row.values, row.deleted_at)
    live = tuple(sorted((pid, v) for pid, (v, deleted_at) in phones.items() if deleted_at is None))
    user = UserFields(None, None, None, None, None, at(key.version_ms))
    if fields is not None:
        user = dataclasses.replace(fields, updated_at=at(key.version_ms))
    return Snapshot(key, user_id, user, live)
