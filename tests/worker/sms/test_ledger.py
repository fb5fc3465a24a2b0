"""sms.created through the inbox and the worker: exact ledger rows, never the message."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.support.bodies import fixture_body
from tests.worker.mirror.helpers import drain, put, statuses

SMS = "sms.created__verification_code"
SIGN_UP = "sms.created__sign_up_no_user"
LEDGER = (
    "SELECT id, user_id, phone_number_id, slug, status, delivered_by_clerk, created_at,"
    " phone_number, phone_number_masked, phone_number_hash, region_code, number_prefix,"
    " number_type, is_valid_number, is_test_number, svix_id"
    " FROM clerk.sms_messages ORDER BY id"
)


def ledger(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(LEDGER).fetchall()


ADA_ROW = {
    "id": "sms_2pSmsAdaExample0000000001",
    "user_id": "user_2pAdaExample0000000000001",
    "phone_number_id": "idn_2pPhoneAdaUK00000000001",
    "slug": "verification_code",
    "status": "queued",
    "delivered_by_clerk": True,
    "created_at": datetime(2025, 1, 2, tzinfo=UTC),
    "phone_number": "+447700900123",
    "phone_number_masked": "+44 ••••••••23",
    "phone_number_hash": None,
    "region_code": "GB",
    "number_prefix": "+44770090",
    "number_type": "unknown",
    "is_valid_number": False,
    "is_test_number": False,
    "svix_id": "msg_sms_1",
}
SIGN_UP_ROW = {
    "id": "sms_2pSmsSignUpExample00000001",
    "user_id": None,
    "phone_number_id": None,
    "slug": "verification_code",
    "status": "queued",
    "delivered_by_clerk": True,
    # No created_at_ms: the event's timestamp.
    "created_at": datetime(2025, 1, 2, 0, 1, tzinfo=UTC),
    "phone_number": "+447781123456",
    "phone_number_masked": "+44 ••••••••56",
    "phone_number_hash": None,
    "region_code": "GG",
    "number_prefix": "+44778112",
    "number_type": "mobile",
    "is_valid_number": True,
    "is_test_number": False,
    "svix_id": "msg_sms_2",
}


def test_sms_created_gives_one_exact_ledger_row_and_is_processed(conn: psycopg.Connection) -> None:
    put(conn, SMS, "msg_sms_1")
    put(conn, SIGN_UP, "msg_sms_2")
    drain(conn)
    assert ledger(conn) == [ADA_ROW, SIGN_UP_ROW]
    assert statuses(conn) == {"msg_sms_1": "processed", "msg_sms_2": "processed"}


def test_a_redelivery_or_a_second_event_for_the_same_message_writes_nothing(
    conn: psycopg.Connection,
) -> None:
    put(conn, SMS, "msg_sms_1")
    drain(conn)
    assert put(conn, SMS, "msg_sms_1") is False
    # Another svix-id for the same message id (Clerk's retry of the send): still one row.
    later = copy.deepcopy(fixture_body(SMS))
    later["timestamp"] += 5_000
    put(conn, later, "msg_sms_1b")
    drain(conn)
    assert ledger(conn) == [ADA_ROW]
    assert statuses(conn) == {"msg_sms_1": "processed", "msg_sms_1b": "processed"}


def test_sends_out_of_order_and_mixed_with_user_events_give_the_same_ledger(
    conn: psycopg.Connection,
) -> None:
    put(conn, SIGN_UP, "msg_sms_2")
    put(conn, "user.updated__second_phone_expired", "msg_user_4")
    put(conn, SMS, "msg_sms_1")
    put(conn, "user.created__unverified_phone", "msg_user_1")
    drain(conn)
    assert ledger(conn) == [ADA_ROW, SIGN_UP_ROW]
    assert set(statuses(conn).values()) == {"processed"}


def test_inbox_keeps_only_the_ledger_fields_of_an_sms(conn: psycopg.Connection) -> None:
    put(conn, SMS, "msg_sms_1")
    (payload,) = conn.execute(
        "SELECT payload FROM clerk.webhook_events WHERE svix_id = 'msg_sms_1'"
    ).fetchone() or (None,)
    kept = json.loads(bytes(payload))
    assert kept == {
        "object": "event",
        "type": "sms.created",
        "timestamp": 1735776000050,
        "data": {
            "object": "sms_message",
            "id": "sms_2pSmsAdaExample0000000001",
            "slug": "verification_code",
            "status": "queued",
            "to_phone_number": "+447700900123",
            "phone_number_id": "idn_2pPhoneAdaUK00000000001",
            "user_id": "user_2pAdaExample0000000000001",
            "delivered_by_clerk": True,
            "created_at_ms": 1735776000000,
        },
    }


def test_an_sms_without_a_number_fails_with_the_reason(conn: psycopg.Connection) -> None:
    body = fixture_body(SMS)
    del body["data"]["to_phone_number"]
    put(conn, body, "msg_sms_bad")
    drain(conn)
    row = conn.execute(
        "SELECT status, last_error FROM clerk.webhook_events WHERE svix_id = 'msg_sms_bad'"
    ).fetchone()
    assert row == ("failed", "data.to_phone_number is missing")
    assert ledger(conn) == []


def test_an_erased_users_sms_is_stored_without_a_body_and_never_reaches_the_ledger(
    conn: psycopg.Connection,
) -> None:
    conn.execute(
        "INSERT INTO clerk.erased_users (user_id, reason) VALUES (%s, 'request')",
        ("user_2pAdaExample0000000000001",),
    )
    put(conn, SMS, "msg_sms_1")
    drain(conn)
    row = conn.execute(
        "SELECT status, payload FROM clerk.webhook_events WHERE svix_id = 'msg_sms_1'"
    ).fetchone()
    assert row == ("ignored", None)
    assert ledger(conn) == []


def test_the_earliest_event_of_a_message_is_its_row_whatever_the_order_of_arrival(
    conn: psycopg.Connection,
) -> None:
    later = copy.deepcopy(fixture_body(SIGN_UP))
    later["timestamp"] += 60_000
    later["data"]["status"] = "sent"
    put(conn, later, "msg_sms_later")
    drain(conn)
    put(conn, SIGN_UP, "msg_sms_2")
    drain(conn)
    assert ledger(conn) == [SIGN_UP_ROW]
    # Told again, later still: the row stays.
    put(conn, later, "msg_sms_latest")
    drain(conn)
    assert ledger(conn) == [SIGN_UP_ROW]


def test_an_erased_row_is_never_written_again(conn: psycopg.Connection) -> None:
    later = copy.deepcopy(fixture_body(SIGN_UP))
    later["timestamp"] += 60_000
    put(conn, later, "msg_sms_later")
    drain(conn)
    conn.execute("UPDATE clerk.sms_messages SET phone_number = NULL, number_prefix = NULL")
    put(conn, SIGN_UP, "msg_sms_2")
    drain(conn)
    assert conn.execute(
        "SELECT phone_number, number_prefix, svix_id FROM clerk.sms_messages"
    ).fetchall() == [(None, None, "msg_sms_later")]
