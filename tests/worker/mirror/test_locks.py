"""A batch apply and an isolated apply of the same users take their user locks in one order."""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg

from tests.support.bodies import fixture_body
from tests.support.crafted import moment, phone, snapshot
from tests.support.processes import wait_for
from tests.worker.mirror.helpers import put
from worker.mirror import apply as mirror

# Chosen so that the order of their lock keys (hashtextextended) is the reverse of theirs.
CY = "user_2pCyExample000000000000001"
DEE = "user_2pDeeExample00000000000001"


def rows(user_id: str, svix_id: str, *, later_ms: int = 0) -> list[tuple[Any, ...]]:
    """One user.created of user_id, as the claim returns it."""
    body = fixture_body("user.created__unverified_phone")
    phone_id = "idn_" + user_id.removeprefix("user_")[:23]
    body["data"].update(id=user_id, primary_phone_number_id=phone_id)
    body["data"]["updated_at"] += later_ms
    body["data"]["phone_numbers"][0]["id"] = phone_id
    return [(svix_id, "user.created", json.dumps(body).encode(), 0)]


def waits_for_a_user_lock(probe: psycopg.Connection, pid: int) -> bool:
    row = probe.execute(
        "SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'advisory' AND NOT granted",
        (pid,),
    ).fetchone()
    return row == (1,)


def test_a_batch_and_an_isolated_apply_of_the_same_users_do_not_deadlock(
    database_url: str,
) -> None:
    errors: list[BaseException] = []

    def apply_batch(conn: psycopg.Connection) -> None:
        try:
            with conn.transaction():
                mirror.apply_rows(
                    conn, rows(CY, "b_cy", later_ms=1) + rows(DEE, "b_dee", later_ms=1)
                )
        except psycopg.Error as exc:
            errors.append(exc)

    with (
        psycopg.connect(database_url, autocommit=True) as probe,
        psycopg.connect(database_url) as isolated,
        psycopg.connect(database_url) as batch,
    ):
        order = probe.execute(
            "SELECT hashtextextended(%s, 0) > hashtextextended(%s, 0)", (CY, DEE)
        ).fetchone()
        assert order == (True,)
        with isolated.transaction():
            # The isolated path, between its users: Cy applied (and locked until the commit).
            assert mirror.apply_rows(isolated, rows(CY, "i_cy"), isolate=True).processed
            thread = threading.Thread(target=apply_batch, args=(batch,))
            thread.start()
            wait_for(
                lambda: waits_for_a_user_lock(probe, batch.info.backend_pid), 10, "batch blocked"
            )
            # ...and now Dee, while the batch of Cy and Dee waits for Cy.
            second = mirror.apply_rows(isolated, rows(DEE, "i_dee"), isolate=True)
        thread.join(10)
        assert not thread.is_alive()
    assert (second.processed, second.retrying, errors) == (["i_dee"], [], [])


def test_a_user_and_its_primary_phone_written_at_once_under_another_user_agree(
    database_url: str,
) -> None:
    # Worker 1 writes user_a, whose primary phone is idn_x; worker 2, at the same time,
    # writes idn_x under user_b. Their user locks differ: only the phone locks make the
    # second wait, so that one of them refreshes user_a's finding seeing both.
    a = snapshot("user_a", moment(1), [], primary="idn_x")
    b = snapshot("user_b", moment(1), [phone("idn_x", "+12025550161")])
    done: list[BaseException | None] = []

    def write_b(conn: psycopg.Connection) -> None:
        try:
            with conn.transaction():
                put(conn, b, "msg_b")
                mirror.apply_ids(conn, ["msg_b"])
            done.append(None)
        except BaseException as exc:  # reported by the assertion below
            done.append(exc)

    with (
        psycopg.connect(database_url, autocommit=True) as probe,
        psycopg.connect(database_url) as first,
        psycopg.connect(database_url) as second,
    ):
        with first.transaction():
            put(first, a, "msg_a")
            mirror.apply_ids(first, ["msg_a"])
            thread = threading.Thread(target=write_b, args=(second,))
            thread.start()
            wait_for(
                lambda: bool(done) or waits_for_a_user_lock(probe, second.info.backend_pid),
                10,
                "the second writer done or waiting",
            )
        thread.join(10)
        assert not thread.is_alive()
        found = probe.execute(
            "SELECT id, primary_phone_problem FROM clerk.users ORDER BY id"
        ).fetchall()
    assert done == [None]
    assert found == [
        ("user_a", "primary_phone_number_id belongs to another user"),
        ("user_b", None),
    ]
