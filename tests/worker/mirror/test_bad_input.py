"""Bad input at the apply step: an unusable event fails alone, readably, and once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import mutations
from tests.support.bodies import fixture_body
from tests.support.crafted import ms
from tests.support.databases import FAR_ZONE
from tests.worker.mirror.helpers import drain, mirror_state, put
from worker.inbox import insert as inbox
from worker.mirror.events import MAX_MS, InvalidEvent, envelope, ms_to_datetime, parse_event

PROPERTY = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
BYSTANDER = "user.created__unverified_phone"
# A time Python holds in UTC that is already year 10000 at UTC+14.
PAST_LAST_DAY = ms(datetime(9999, 12, 31, 12, tzinfo=UTC))


def store_raw(conn: psycopg.Connection, raw: bytes, svix_id: str) -> bool:
    """Store a body as the endpoint would; False when the endpoint would refuse it (400)."""
    try:
        env = envelope(json.loads(raw))
    except (ValueError, RecursionError):
        return False
    return env is not None and inbox.store_event(conn, svix_id, raw, env)


def outcome(conn: psycopg.Connection, svix_id: str) -> tuple[str, str | None, int]:
    row = conn.execute(
        "SELECT status, last_error, attempts FROM clerk.webhook_events WHERE svix_id = %s",
        (svix_id,),
    ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def check_applies_alone(conn: psycopg.Connection, raw: bytes) -> None:
    """The bad event ends processed, ignored or failed; a good one beside it applies."""
    with conn.transaction(force_rollback=True):
        if not store_raw(conn, raw, "bad"):
            return
        put(conn, BYSTANDER, "good")
        drain(conn)
        status, error, attempts = outcome(conn, "bad")
        assert status in ("processed", "ignored", "failed")
        if status == "failed":
            assert error
            assert error.isprintable()
            assert attempts == 1
        assert outcome(conn, "good")[0] == "processed"


@PROPERTY
@given(body=mutations.mutated_bodies())
def test_parse_event_returns_an_event_or_raises_invalid_event(body: dict[str, Any]) -> None:
    reason = ""
    try:
        parse_event("m", mutations.encode(body))
    except InvalidEvent as exc:
        reason = str(exc) or "(empty)"
    assert reason != "(empty)"


@PROPERTY
@given(body=mutations.mutated_bodies())
def test_mutated_event_is_applied_or_failed_and_its_batch_still_applies(
    conn: psycopg.Connection, body: dict[str, Any]
) -> None:
    check_applies_alone(conn, mutations.encode(body))


@pytest.mark.parametrize("depth", [50, 900, 990, 5_000])
def test_deeply_nested_field_is_applied_or_failed(conn: psycopg.Connection, depth: int) -> None:
    check_applies_alone(conn, mutations.with_nested_field(fixture_body(BYSTANDER), depth))


def test_unknown_verification_status_and_strategy_are_stored_as_is(
    conn: psycopg.Connection,
) -> None:
    body = fixture_body("user.updated__phone_verified")
    verification = body["data"]["phone_numbers"][0]["verification"]
    verification.update(status="quantum_entangled", strategy="carrier_pigeon")
    put(conn, body, "new_kinds")
    drain(conn)
    row = conn.execute(
        "SELECT verification_status, verification_strategy FROM clerk.phone_numbers"
    ).fetchone()
    assert row == ("quantum_entangled", "carrier_pigeon")


def test_five_thousand_phone_numbers_are_all_stored(conn: psycopg.Connection) -> None:
    body = fixture_body("user.updated__phone_verified")
    body["data"]["phone_numbers"] = mutations.phone_list(5_000)
    put(conn, body, "many")
    drain(conn)
    row = conn.execute(
        "SELECT count(*), count(DISTINCT region_code) FROM clerk.phone_numbers"
        " WHERE deleted_at IS NULL"
    ).fetchone()
    assert row == (5_000, 1)


@pytest.mark.parametrize("text", mutations.UNICODE)
def test_unicode_in_a_phone_field_is_stored_or_failed_readably(
    conn: psycopg.Connection, text: str
) -> None:
    body = fixture_body(BYSTANDER)
    body["data"]["phone_numbers"][0]["verification"]["status"] = text
    body["data"]["id"] = "user_unicode"
    check_applies_alone(conn, mutations.encode(body))


@pytest.mark.parametrize(
    ("place", "field"),
    [
        (lambda b: b["data"].update(updated_at=PAST_LAST_DAY), "data.updated_at"),
        (lambda b: b.update(timestamp=PAST_LAST_DAY), "event.timestamp"),
        (
            lambda b: b["data"]["phone_numbers"][0]["verification"].update(expire_at=PAST_LAST_DAY),
            "data.phone_numbers[0].verification.expire_at",
        ),
    ],
)
def test_a_time_some_zone_cannot_hold_is_stored_then_fails_naming_its_field(
    conn: psycopg.Connection, place: Callable[[dict[str, Any]], None], field: str
) -> None:
    body = fixture_body(BYSTANDER)
    place(body)
    assert put(conn, body, "far_future")
    drain(conn)
    status, error, _ = outcome(conn, "far_future")
    assert status == "failed"
    assert error is not None
    assert error.startswith(f"{field} is out of range")


def test_the_latest_time_accepted_reads_back_in_the_farthest_zone(conn: psycopg.Connection) -> None:
    body = fixture_body(BYSTANDER)
    body["data"]["updated_at"] = MAX_MS
    body["data"]["phone_numbers"][0]["verification"]["expire_at"] = MAX_MS
    put(conn, body, "latest")
    drain(conn)
    conn.execute("SELECT set_config('TimeZone', %s, true)", (FAR_ZONE,))
    state = mirror_state(conn)
    assert state["users"][0]["updated_at"] == ms_to_datetime(MAX_MS)
    assert state["phones"][0]["verification_expire_at"] == ms_to_datetime(MAX_MS)


@given(st.integers(min_value=0, max_value=MAX_MS))
def test_a_time_in_ms_is_that_many_milliseconds_after_1970(value: int) -> None:
    moment = ms_to_datetime(value)
    assert moment == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)
    assert (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1) == value
