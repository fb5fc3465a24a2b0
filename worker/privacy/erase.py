"""Erasure of a person's data: numbers, links and raw payloads to NULL, the user tombstoned.

What identifies someone (phone_number, its hash and masked form, linked_to, the raw
payloads of their events) is set to NULL in every table, history included; what does
not (region, verification, flags, times) stays, so the reports keep counting them. A
tombstone in clerk.erased_users keeps the user out for good: the inbox stores a later
event without its payload, and the worker ignores it. Functions take a connection and
never commit: the caller owns the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import psycopg

from worker import mask as phone_mask
from worker.inbox import forget
from worker.mirror import phone_history, store
from worker.mirror.queries import LOCK_USERS
from worker.privacy import queries

E164: Final = re.compile(r"^\+[1-9][0-9]{5,14}$")
# Shorter digit runs would match unrelated text in payloads.
MIN_NEEDLE = 6
# Users per transaction of the automatic erasure: each batch scans the inbox once.
BATCH_USERS = 500
REQUEST, DELETED = "request", "deleted"


@dataclass(frozen=True, slots=True)
class Erased:
    """One user's erasure: how many rows it changed (0 when nothing was left)."""

    user_id: str
    rows: int


def erase_users(
    conn: psycopg.Connection, user_ids: Iterable[str], *, reason: str = REQUEST
) -> list[Erased]:
    """Erase each user (idempotent), in id order, under the mirror's per-user locks."""
    ids = sorted(set(user_ids))
    if not ids:
        return []
    conn.execute(LOCK_USERS, {"user_ids": ids})
    counts: dict[str, int] = {}
    owners: list[str] = []
    needles: list[str] = []
    for user_id in ids:
        numbers = [row[0] for row in conn.execute(queries.USER_NUMBERS, {"user_id": user_id})]
        for needle in (user_id, *(n.lstrip("+") for n in numbers)):
            if len(needle) >= MIN_NEEDLE:
                owners.append(user_id)
                needles.append(needle)
        counts[user_id] = _erase_one(conn, user_id, reason) + erase_sms(conn, user_id, numbers)
    counts.update(_forget_mentions(conn, owners, needles, counts))
    return [Erased(user_id, counts[user_id]) for user_id in ids]


def _erase_one(conn: psycopg.Connection, user_id: str, reason: str) -> int:
    params = {"user_id": user_id, "reason": reason}
    row = conn.execute(queries.USER_PHONE_IDS, params).fetchone()
    phone_ids = row[0] if row else []
    store.lock_primary_phones(conn, [user_id], phone_ids)
    changed = phone_history.tombstone(conn, user_id)
    changed += conn.execute(queries.ERASE_PHONES, params).rowcount
    changed += phone_history.erase(conn, user_id)
    changed += conn.execute(queries.DELETE_USER, params).rowcount
    changed += forget.of_users(conn, [user_id])
    phone_history.refresh_facts(conn, phone_ids)
    store.refresh_primary_phones(conn, [user_id], phone_ids)
    store.refresh_user_facts(conn, [user_id])
    conn.execute(queries.TOMBSTONE, params)
    return changed


def _forget_mentions(
    conn: psycopg.Connection, owners: list[str], needles: list[str], counts: dict[str, int]
) -> dict[str, int]:
    hits = forget.mentioning(conn, owners, needles)
    return {owner: counts[owner] + n for owner, n in hits.items()}


def holders(conn: psycopg.Connection, number: str) -> list[str]:
    """The users who held an E.164 number: in the mirror, its history or a pending event."""
    if not E164.match(number):
        raise ValueError(f"{mask(number)!r} is not an E.164 number like +447700900123")
    return [row[0] for row in conn.execute(queries.NUMBER_HOLDERS, {"number": number})]


def mask(number: str) -> str:
    """The masked form analysts see, for messages that must not repeat the number."""
    return phone_mask.phone_number(number)


def erase_deleted(conn: psycopg.Connection, days: int, *, limit: int = BATCH_USERS) -> list[Erased]:
    """Erase up to `limit` users deleted more than `days` days ago (0: any deleted user)."""
    rows = conn.execute(queries.DELETED_BEFORE, {"days": days, "limit": limit}).fetchall()
    return erase_users(conn, [row[0] for row in rows], reason=DELETED)


def erase_sms(conn: psycopg.Connection, user_id: str | None, numbers: list[str]) -> int:
    """The SMS ledger's rows of the user or sent to the numbers lose every form of it."""
    params = {"user_id": user_id, "numbers": numbers}
    return conn.execute(queries.ERASE_SMS, params).rowcount


def forget_number(conn: psycopg.Connection, number: str) -> int:
    """Forget a number no user holds: the events of no user that mention it, and the SMS
    ledger's rows sent to it; how many."""
    erased = erase_sms(conn, None, [number])
    needle = number.lstrip("+")
    if len(needle) < MIN_NEEDLE:
        return erased
    counts = _forget_mentions(conn, [number], [needle], {number: erased})
    return counts.get(number, erased)
