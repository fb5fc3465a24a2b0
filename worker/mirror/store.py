"""Read user state from the mirror tables and write it back; no decisions are made here.

Phone history has its own module (phone_history), which shares the row converters below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from worker.mirror import bulk, intel, queries
from worker.mirror.events import EventKey, PhoneValues, UserFields
from worker.mirror.fold import PhoneRow, UserState, UserTrack
from worker.privacy import pii

_VALUE_COLUMNS = tuple(f.name for f in dataclasses.fields(PhoneValues))


def load_states(conn: psycopg.Connection, user_ids: list[str]) -> dict[str, UserState]:
    """The mirror's current state of each user (an empty state for unknown users)."""
    return start_loading(conn, user_ids)()


def start_loading(
    conn: psycopg.Connection, user_ids: list[str]
) -> Callable[[], dict[str, UserState]]:
    """Send the reads of load_states (in a pipeline: with the statements around them);
    the function returned reads their results."""
    params = {"user_ids": user_ids}
    users = conn.cursor(row_factory=dict_row).execute(queries.SELECT_USERS, params)
    phones = conn.cursor(row_factory=dict_row).execute(queries.SELECT_PHONES, params)
    return lambda: _states(user_ids, users, phones)


def _states(
    user_ids: list[str],
    users: psycopg.Cursor[dict[str, Any]],
    phones: psycopg.Cursor[dict[str, Any]],
) -> dict[str, UserState]:
    states = {user_id: UserState(user_id) for user_id in user_ids}
    with users, phones:
        for row in users:
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
                # The newest fields are what user history recorded last (deleted: no more).
                if row["deleted_at"] is None:
                    state.tracked = UserTrack.of(state.fields)
        for row in phones:
            states[row["user_id"]].phones[row["id"]] = phone_row(row)
    return states


def write_states(
    conn: psycopg.Connection,
    states: Iterable[UserState],
    *,
    pii_key: bytes | None,
    out: bulk.Executor | None = None,
) -> None:
    """Upsert users and the phones the fold touched, one statement per table; the
    statements go to out (a bulk.Tail) when given."""
    run = conn if out is None else out
    users, phones = {}, {}
    primaries: set[str] = set()
    removed: dict[str, str] = {}
    digest = pii.hasher(pii_key)
    for state in states:
        if state.key is None:
            continue
        users[state.user_id] = _user_values(state, state.key)
        if state.fields is not None and state.fields.primary_phone_number_id is not None:
            primaries.add(state.fields.primary_phone_number_id)
        removed.update(dict.fromkeys(state.removed_phones, state.user_id))
        for phone_id in sorted(state.dirty_phones):
            phone = state.phones[phone_id]
            phones[phone_id] = (
                phone_id,
                phone.user_id,
                *phone_columns(phone.values, phone.deleted_at, digest),
            )
    lock_primary_phones(run, users, [*phones, *primaries, *removed])
    if removed:
        params = {"phone_ids": sorted(removed), "user_ids": sorted(set(removed.values()))}
        run.execute(queries.DELETE_PHONES, params)
    # ON CONFLICT DO UPDATE may touch a row once per statement: the dicts keep ids unique.
    if users:
        bulk.write(conn, bulk.USERS, users.values(), run)
    if phones:
        bulk.write(conn, bulk.PHONES, phones.values(), run)
    refresh_primary_phones(run, users, [*phones, *removed])


def lock_primary_phones(
    conn: bulk.Executor, user_ids: Iterable[str], phone_ids: Iterable[str]
) -> None:
    """Before writing these users and phones: serialize with writers of the same phone ids."""
    users, phones = sorted(set(user_ids)), sorted(set(phone_ids))
    if users or phones:
        conn.execute(queries.LOCK_PRIMARY_PHONES, {"user_ids": users, "phone_ids": phones})


def refresh_primary_phones(
    conn: bulk.Executor, user_ids: Iterable[str], phone_ids: Iterable[str]
) -> None:
    """Recompute users.primary_phone_problem where these users' or phones' rows changed."""
    users, phones = sorted(set(user_ids)), sorted(set(phone_ids))
    if users or phones:
        params = {"user_ids": users, "phone_ids": phones}
        conn.execute(queries.REFRESH_PRIMARY_PHONE_PROBLEM, params)


def refresh_user_facts(conn: bulk.Executor, user_ids: Iterable[str]) -> None:
    """Recompute clerk.user_factor_changes of these users, after both histories and facts."""
    ids = sorted(set(user_ids))
    if ids:
        conn.execute(queries.REFRESH_USER_FACTOR_CHANGES, {"user_ids": ids})


def phone_row(row: dict[str, Any]) -> PhoneRow:
    """A phone's row (of the mirror or its history) as the fold holds it."""
    return PhoneRow(row["user_id"], phone_values(row), row["deleted_at"])


def phone_values(row: dict[str, Any]) -> PhoneValues:
    """The values a snapshot carries, from a row of the mirror or its history."""
    links = tuple((link["type"], link["id"]) for link in row["linked_to"])
    return PhoneValues(
        **{name: row[name] for name in _VALUE_COLUMNS if name != "linked_to"}, linked_to=links
    )


def phone_columns(
    v: PhoneValues, deleted_at: datetime | None, digest: pii.Hasher
) -> tuple[Any, ...]:
    """A phone's columns after (id, user_id), in the stage's order: the number's intel
    (worker.mirror.intel) is classified here, so each row is written once, complete."""
    kind = _NO_INTEL if v.phone_number is None else intel.classify(v.phone_number)
    return (
        v.phone_number, digest(v.phone_number), v.region_code, v.reserved_for_second_factor,
        v.default_second_factor, v.is_primary, v.verification_status, v.verification_strategy,
        v.verification_attempts, v.verification_expire_at, _links(v.linked_to), v.created_at,
        v.updated_at, deleted_at, *kind,
    )  # fmt: skip


# A row without a number has no intel (as `clerk-mirror classify` leaves it).
_NO_INTEL = (None, None, None)


# Most numbers link to nothing: their jsonb, dumped once (json.dumps for each row and
# history row was about 3 µs of a page writer's Python a row).
_NO_LINKS = Jsonb([], dumps=lambda _: "[]")


def _links(linked_to: tuple[tuple[str, str], ...]) -> Jsonb:
    return Jsonb([{"type": t, "id": i} for t, i in linked_to]) if linked_to else _NO_LINKS


def _user_values(state: UserState, key: EventKey) -> tuple[Any, ...]:
    f = state.fields
    return (
        state.user_id,
        f.primary_phone_number_id if f else None,
        f.two_factor_enabled if f else None,
        f.totp_enabled if f else None,
        f.backup_code_enabled if f else None,
        f.created_at if f else None,
        f.updated_at if f else None,
        state.deleted_at,
        key.version_ms,
        key.event_ms,
        key.svix_id,
    )
