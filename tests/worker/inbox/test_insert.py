"""The web's inbox write (store_webhook) stores what store_event stores, and fails as it does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import pq

from tests.support.bodies import fixture_body
from tests.support.databases import create_database, drop_database, with_dbname
from worker.inbox.insert import prepare_webhook_insert, store_event, store_webhook
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


PREPARED = "SELECT name FROM pg_prepared_statements"


class _Recorded:
    """A connection whose libpq calls are noted (name, and a result's status)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn, self.calls = conn, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    @property
    def pgconn(self) -> Any:
        recorded = self

        class PGconn:
            def __getattr__(self, name: str) -> Any:
                method = getattr(recorded.conn.pgconn, name)

                def call(*args: Any) -> Any:
                    result = method(*args)
                    recorded.calls.append((name, pq.ExecStatus(result.status).name))
                    return result

                return call

        return PGconn()


def test_a_prepared_connection_stores_without_a_failed_first_attempt(
    autocommit: psycopg.Connection,
) -> None:
    """Prepared when the web's pool makes the connection: the first insert is one EXECUTE,
    not a failed one of an unknown statement (which Postgres logs as an ERROR) and a retry."""
    prepare_webhook_insert(autocommit)
    assert autocommit.execute(PREPARED).fetchall() == [("clerk_mirror_inbox_insert",)]
    recorded = _Recorded(autocommit)
    assert store(recorded, store_webhook, "user.created__unverified_phone", "msg_1")
    assert recorded.calls == [("exec_prepared", "COMMAND_OK")]
    assert row(autocommit, "msg_1") is not None
    unprepared = _Recorded(autocommit)
    autocommit.execute("DEALLOCATE ALL")
    assert store(unprepared, store_webhook, "user.updated__phone_verified", "msg_2")
    assert unprepared.calls == [
        ("exec_prepared", "FATAL_ERROR"), ("prepare", "COMMAND_OK"),
        ("exec_prepared", "COMMAND_OK"),
    ]  # fmt: skip


def test_preparing_on_a_database_not_migrated_leaves_the_error_to_the_insert(
    services: dict[str, str],
) -> None:
    name = create_database(services["postgres"])
    try:
        with psycopg.connect(with_dbname(services["postgres"], name), autocommit=True) as conn:
            prepare_webhook_insert(conn)  # no clerk.webhook_events: nothing prepared, no raise
            assert conn.execute(PREPARED).fetchall() == []
            with pytest.raises(psycopg.errors.UndefinedTable):
                store(conn, store_webhook, "user.created__unverified_phone", "msg_1")
    finally:
        drop_database(services["postgres"], name)
