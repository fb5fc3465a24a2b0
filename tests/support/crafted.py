"""Crafted Clerk events: the fixture bodies with ids, numbers, flags and times changed."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tests.support.bodies import fixture_body
from tests.worker.mirror.helpers import drain, put

# Two svix-ids whose order Python (code points, as COLLATE "C") and an en-US ICU collation
# disagree on: LOW_ID < HIGH_ID here, HIGH_ID < LOW_ID there.
LOW_ID, HIGH_ID = "msg_2pXa", "msg_2pxA"


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def moment(day: int, minute: int = 0, *, month: int = 1) -> datetime:
    """A time in 2025: that day at midnight UTC plus `minute` minutes."""
    return datetime(2025, month, day, tzinfo=UTC) + timedelta(minutes=minute)


def phone(
    phone_id: str,
    number: str,
    *,
    status: str | None = "verified",
    strategy: str = "phone_code",
    reserved: bool = False,
    default: bool = False,
    attempts: int = 1,
) -> dict[str, Any]:
    """A phone_numbers[] entry shaped like the fixture's, with these values."""
    entry: dict[str, Any] = copy.deepcopy(
        fixture_body("user.updated__2fa_enabled")["data"]["phone_numbers"][0]
    )
    entry.update(
        id=phone_id,
        phone_number=number,
        reserved_for_second_factor=reserved,
        default_second_factor=default,
    )
    if status is None:
        entry["verification"] = None
    else:
        entry["verification"].update(status=status, strategy=strategy, attempts=attempts)
    return entry


def snapshot(
    user_id: str,
    at: datetime,
    phones: list[dict[str, Any]],
    *,
    two_factor: bool = False,
    totp: bool = False,
    backup: bool = False,
    primary: str | None = "first",
) -> dict[str, Any]:
    """A user.updated of this user at `at`; primary "first" names the first phone."""
    body = fixture_body("user.updated__2fa_enabled")
    data = body["data"]
    if primary == "first":
        primary = phones[0]["id"] if phones else None
    data.update(
        id=user_id,
        phone_numbers=phones,
        primary_phone_number_id=primary,
        two_factor_enabled=two_factor,
        totp_enabled=totp,
        backup_code_enabled=backup,
        updated_at=ms(at),
    )
    body["timestamp"] = ms(at) + 20
    return body


def deletion(user_id: str, at: datetime) -> dict[str, Any]:
    body = fixture_body("user.deleted")
    body["data"]["id"] = user_id
    body["timestamp"] = ms(at)
    return body


_ids = itertools.count()


def apply(conn: psycopg.Connection, *bodies: dict[str, Any]) -> None:
    """Deliver each body under a fresh svix-id and apply it, as the worker would."""
    for body in bodies:
        put(conn, body, f"msg_crafted_{next(_ids)}")
        drain(conn)


def sms(
    sms_id: str,
    number: str,
    at: datetime,
    *,
    user_id: str | None = None,
    phone_id: str | None = None,
) -> dict[str, Any]:
    """An sms.created of a verification code sent to `number` at `at`."""
    body = fixture_body("sms.created__verification_code")
    body["data"].update(
        id=sms_id,
        to_phone_number=number,
        user_id=user_id,
        phone_number_id=phone_id,
        created_at_ms=ms(at),
    )
    body["timestamp"] = ms(at) + 50
    return body


def put_all(conn: psycopg.Connection, *bodies: dict[str, Any]) -> None:
    """Deliver the bodies under fresh svix-ids, then apply them all at once."""
    for body in bodies:
        put(conn, body, f"msg_crafted_{next(_ids)}")
    drain(conn)
