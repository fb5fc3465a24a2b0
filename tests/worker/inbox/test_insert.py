"""The web's inbox write (store_webhook) stores what store_event stores, and fails as it does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.support.bodies import fixture_body
from worker.inbox.insert import store_event, store_webhook
from worker.mirror.events import envelope

BODIES = (
    "user.created__unverified_phone",
    "user.deleted",
    "sms.created__verification_code",
    "sms.created__sign_up_no_user",
    "session.created__ignored",
    "email.created__verification_code",
)
COLUMNS = (
    "event_type, payload, user_id, version_ms, event_ms, status, processed_at IS NULL, "
    "last_error, source, attempts"
)


@pytest.fixture
def autocommit(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def store(conn: psycopg.Connection, how: Any, name: str, svix_id: str) -> bool:
    body = fixture_body(name)
    env = envelope(body)
    assert env is not None
    stored: bool = how(conn, svix_id, json.dumps(body).encode(), env)
    return stored


def row(conn: psycopg.Connection, svix_id: str) -> tuple[Any, ...] | None:
    query = f"SELECT {COLUMNS} FROM clerk.webhook_events WHERE svix_id = %s"  # noqa: S608
    return conn.execute(query, (svix_id,)).fetchone()  # type: ignore[call-overload, no-any-return]


def test_the_same_rows_as_store_event_redelivery_and_erased_users_included(
    autocommit: psycopg.Connection,
) -> None:
    erased = fixture_body("user.deleted")["data"]["id"]
    for round_ in ("live", "erased"):
        if round_ == "erased":
            autocommit.execute(
                "INSERT INTO clerk.erased_users (user_id, reason) VALUES (%s, 'request')",
                (erased,),
            )
        for name in BODIES:
            ids = [f"msg_{round_}_{how.__name__}_{name}" for how in (store_event, store_webhook)]
            assert store(autocommit, store_event, name, ids[0])
            assert store(autocommit, store_webhook, name, ids[1])
            assert not store(autocommit, store_webhook, name, ids[1])  # a redelivery
            assert row(autocommit, ids[0]) == row(autocommit, ids[1])
            assert row(autocommit, ids[1]) is not None
    # The erased user's own event: stored without its body, closed as ignored.
    assert row(autocommit, "msg_erased_store_webhook_user.deleted")[1:2] == (None,)  # type: ignore[index]


def test_a_connection_that_lost_the_statement_prepares_it_again(
    autocommit: psycopg.Connection,
) -> None:
    assert store(autocommit, store_webhook, "user.created__unverified_phone", "msg_1")
    autocommit.execute("DEALLOCATE ALL")
    assert store(autocommit, store_webhook, "user.updated__phone_verified", "msg_2")
    count = autocommit.execute("SELECT count(*) FROM clerk.webhook_events").fetchone()
    assert count == (2,)


def test_a_refused_write_raises_psycopgs_error_and_stores_nothing(
    autocommit: psycopg.Connection,
) -> None:
    autocommit.execute("SET default_transaction_read_only = on")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        store(autocommit, store_webhook, "user.created__unverified_phone", "msg_1")
    autocommit.execute("SET default_transaction_read_only = off")
    assert autocommit.execute("SELECT count(*) FROM clerk.webhook_events").fetchone() == (0,)


def test_a_lost_connection_raises_operational_error(
    autocommit: psycopg.Connection, database_url: str
) -> None:
    assert store(autocommit, store_webhook, "user.created__unverified_phone", "msg_1")
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (autocommit.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):
        store(autocommit, store_webhook, "user.updated__phone_verified", "msg_2")


def test_inside_a_transaction_it_is_store_event(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert store(conn, store_webhook, "user.created__unverified_phone", "msg_1")
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM clerk.webhook_events").fetchone() == (0,)
