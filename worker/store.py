"""Read user state from the mirror tables and write it back; no decisions are made here."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from worker import queries
from worker.events import EventKey, PhoneValues, UserFields
from worker.fold import HistoryRow, PhoneRow, UserState

_VALUE_COLUMNS = tuple(f.name for f in dataclasses.fields(PhoneValues))


def load_states(conn: psycopg.Connection, user_ids: list[str]) -> dict[str, UserState]:
    """The mirror's current state of each user (an empty state for unknown users)."""
    states = {user_id: UserState(user_id) for user_id in user_ids}
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(queries.SELECT_USERS, {"user_ids": user_ids}):
            state = states[row["id"]]
            state.deleted_at = row["deleted_at"]
            state.key = EventKey(row["version_ms"], row["version_event_ms"], row["version_svix_id"])
            if row["updated_at"] is not None:
                state.fields = UserFields(
                    row["primary_phone_number_id"],
                    row["two_factor_enabled"],
                    row["totp_enabled"],
                    row["backup_code_enabled"],
                    row["created_at"],
                    row["updated_at"],
                )
        for row in cur.execute(queries.SELECT_PHONES, {"user_ids": user_ids}):
            states[row["user_id"]].phones[row["id"]] = _phone_row(row)
    return states


def load_checkpoint(
    conn: psycopg.Connection, user_id: str, before: datetime
) -> dict[str, PhoneRow]:
    """Each of a user's phones as history last recorded it strictly before `before`."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(queries.SELECT_CHECKPOINT, {"user_id": user_id, "before": before})
        return {row["phone_number_id"]: _phone_row(row) for row in cur}


def load_history_from(
    conn: psycopg.Connection, user_id: str, since: datetime
) -> dict[HistoryRow, int]:
    """A user's history rows from `since` on, mapped to their history_id."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(queries.SELECT_HISTORY_FROM, {"user_id": user_id, "since": since})
        return {
            HistoryRow(
                row["phone_number_id"],
                row["user_id"],
                row["change"],
                _values(row),
                row["deleted_at"],
                row["svix_id"],
                row["effective_at"],
                row["event_at"],
            ): row["history_id"]
            for row in cur
        }


def write_states(conn: psycopg.Connection, states: Iterable[UserState]) -> None:
    """Upsert users and the phones the fold touched."""
    users, phones = [], []
    for state in states:
        if state.key is None:
            continue
        users.append(_user_params(state))
        for phone_id in sorted(state.dirty_phones):
            phone = state.phones[phone_id]
            phones.append(_phone_params(phone_id, phone.user_id, phone.values, phone.deleted_at))
    with conn.cursor() as cur:
        if users:
            cur.executemany(queries.UPSERT_USER, users)
        if phones:
            cur.executemany(queries.UPSERT_PHONE, phones)


def write_history(
    conn: psycopg.Connection, rows: list[HistoryRow], delete_ids: list[int] | None = None
) -> None:
    with conn.cursor() as cur:
        if delete_ids:
            cur.execute(queries.DELETE_HISTORY, {"history_ids": delete_ids})
        if rows:
            cur.executemany(queries.INSERT_HISTORY, [_history_params(r) for r in rows])


def _phone_row(row: dict[str, Any]) -> PhoneRow:
    return PhoneRow(row["user_id"], _values(row), row["deleted_at"])


def _values(row: dict[str, Any]) -> PhoneValues:
    links = tuple((link["type"], link["id"]) for link in row["linked_to"])
    return PhoneValues(
        **{name: row[name] for name in _VALUE_COLUMNS if name != "linked_to"}, linked_to=links
    )


def _phone_params(
    phone_id: str, user_id: str, values: PhoneValues, deleted_at: datetime | None
) -> dict[str, Any]:
    params: dict[str, Any] = {name: getattr(values, name) for name in _VALUE_COLUMNS}
    params["linked_to"] = Jsonb([{"type": t, "id": i} for t, i in values.linked_to])
    params.update(id=phone_id, user_id=user_id, deleted_at=deleted_at)
    return params


def _history_params(row: HistoryRow) -> dict[str, Any]:
    params = _phone_params(row.phone_number_id, row.user_id, row.values, row.deleted_at)
    params.update(
        change=row.change, svix_id=row.svix_id, effective_at=row.effective_at, event_at=row.event_at
    )
    return params


def _user_params(state: UserState) -> dict[str, Any]:
    if state.key is None:
        raise ValueError(f"user {state.user_id} has no applied event to write")
    fields = state.fields
    return {
        "id": state.user_id,
        "primary_phone_number_id": fields.primary_phone_number_id if fields else None,
        "two_factor_enabled": fields.two_factor_enabled if fields else None,
        "totp_enabled": fields.totp_enabled if fields else None,
        "backup_code_enabled": fields.backup_code_enabled if fields else None,
        "created_at": fields.created_at if fields else None,
        "updated_at": fields.updated_at if fields else None,
        "deleted_at": state.deleted_at,
        "version_ms": state.key.version_ms,
        "version_event_ms": state.key.event_ms,
        "version_svix_id": state.key.svix_id,
    }
