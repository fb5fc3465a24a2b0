"""An inbox write whose commit went through but whose answer was lost still wakes a worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from psycopg import pq
from psycopg_pool import ConnectionPool

from tests.support.bodies import fixture_body
from tests.support.processes import wait_for
from tests.support.signing import sign


class AnswerLost:
    """A pool connection that dies right after its statement committed (autocommit),
    through psycopg (execute) or straight through libpq (pgconn), as the web sends it."""

    def __init__(self, conn: psycopg.Connection, database_url: str) -> None:
        self.conn, self.database_url = conn, database_url
        self.pgconn = LostPGconn(self)

    def hang_up(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s, 5000)", (self.conn.info.backend_pid,))

    def execute(self, query: Any, params: Any = None) -> psycopg.Cursor[Any]:
        self.conn.execute(query, params)
        self.hang_up()
        # The server hung up before this request heard back: a real OperationalError.
        return self.conn.execute("SELECT 1")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


class LostPGconn:
    def __init__(self, lost: AnswerLost) -> None:
        self.lost = lost

    def exec_prepared(self, *args: Any) -> Any:
        pgconn = self.lost.conn.pgconn
        result = pgconn.exec_prepared(*args)
        if result.status != pq.ExecStatus.COMMAND_OK:  # not prepared yet on this connection
            return result
        self.lost.hang_up()
        # What libpq answers on the dead connection, instead of the statement's answer.
        return pgconn.exec_params(b"SELECT 1", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.lost.conn.pgconn, name)


class LosesFirstAnswer:
    """The app's pool, but the first connection it lends loses its answer."""

    def __init__(self, pool: ConnectionPool, database_url: str) -> None:
        self.pool, self.database_url, self.lost = pool, database_url, False

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Any]:
        with self.pool.connection(timeout) as conn:
            if self.lost:
                yield conn
            else:
                self.lost = True
                yield AnswerLost(conn, self.database_url)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


@pytest.fixture
def queued(redis_url: str, queue_name: str) -> Iterator[redis.Redis[bytes]]:
    """The test's own Celery queue (a Redis list), removed afterwards."""
    conn: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
    yield conn
    conn.delete(queue_name, queue_name + ":drain-scheduled")
    conn.close()


def test_an_event_stored_by_a_first_attempt_whose_answer_was_lost_still_wakes_a_worker(
    app: Flask,
    client: FlaskClient,
    database_url: str,
    queue_name: str,
    queued: redis.Redis[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = app.extensions["clerk_mirror"]
    monkeypatch.setattr(runtime, "pool", LosesFirstAnswer(runtime.pool, database_url))
    body = json.dumps(fixture_body("user.created__unverified_phone")).encode()

    response = client.post("/webhooks/clerk", data=body, headers=sign(body, "msg_lost_ack"))

    assert response.status_code == 200
    assert runtime.pool.lost
    # The first attempt's commit went through: the retry found the row already there.
    assert response.get_json()["duplicate"] is True
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT svix_id, status FROM clerk.webhook_events").fetchall()
    assert stored == [("msg_lost_ack", "pending")]
    wait_for(lambda: queued.llen(queue_name) == 1, 5, "a drain wake-up in the queue")
