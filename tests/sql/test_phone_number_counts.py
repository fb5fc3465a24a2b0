"""clerk.phone_number_counts, kept by the phones' triggers, counts every phone row of a number:
under two workers that add the same number at once, through any mix of writes (erasure,
the scheduled erasure of deleted users, a re-fold that drops phones, TRUNCATE), and it
never keeps a number that no phone carries."""

from __future__ import annotations

import random
import threading
from typing import Any

import psycopg
import pytest

from tests.support.crafted import apply, deletion, moment, phone, snapshot
from tests.support.databases import every_database
from tests.support.phone_number_counts import ORIGINAL_SHARED_NUMBERS, STALE_NUMBER_COUNTS
from tests.support.processes import wait_for
from tests.worker.mirror import helpers
from tests.worker.mirror.helpers import put
from worker.mirror import apply as mirror
from worker.privacy import erase

REPORT = "SELECT * FROM clerk.report_shared_phone_numbers"
N1, N2 = "+447700900301", "+447700900302"
COUNTS = "SELECT phone_number, phones FROM clerk.phone_number_counts ORDER BY 1"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    every_database(metafunc)


def waits_for_a_row_lock(probe: psycopg.Connection, pid: int) -> bool:
    row = probe.execute(
        "SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'transactionid'"
        " AND NOT granted",
        (pid,),
    ).fetchone()
    return row == (1,)


def test_two_workers_adding_the_same_numbers_at_once_both_count(database_url: str) -> None:
    # Each worker's transaction adds both numbers, in opposite orders; neither sees the
    # other's phones when it writes its own.
    a = snapshot("user_a", moment(1), [phone("idn_a1", N2), phone("idn_a2", N1)])
    b = snapshot("user_b", moment(1), [phone("idn_b1", N1), phone("idn_b2", N2)])
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
            # The second has written its phones and waits on the first's counts.
            wait_for(
                lambda: waits_for_a_row_lock(probe, second.info.backend_pid),
                10,
                "the second writer waiting on the first's numbers",
            )
            assert probe.execute("SELECT count(*) FROM clerk.phone_numbers").fetchone() == (0,)
        thread.join(10)
        assert not thread.is_alive()
        assert done == [None]
        assert probe.execute(COUNTS).fetchall() == [(N1, 2), (N2, 2)]
        assert probe.execute(STALE_NUMBER_COUNTS).fetchall() == []
        shared = probe.execute(REPORT).fetchall()
    assert [(row[3], row[6]) for row in shared] == [(2, ["user_a", "user_b"])] * 2


def check(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    """The report, after checking the kept counts against a recount and the report against
    its computation before 0027."""
    assert conn.execute(STALE_NUMBER_COUNTS).fetchall() == []
    empty = conn.execute("SELECT count(*) FROM clerk.phone_number_counts WHERE phones < 1")
    assert empty.fetchone() == (0,)
    got = conn.execute(REPORT).fetchall()
    assert got == conn.execute(ORIGINAL_SHARED_NUMBERS).fetchall()
    return got


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_kept_counts_match_a_recount_after_random_writes(
    conn: psycopg.Connection, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helpers, "PII_KEY", b"counts-test-key-0123456789abcdef")
    rng = random.Random(seed)
    users = [f"user_{u}" for u in range(6)]
    numbers = [f"+4477009004{n:02d}" for n in range(4)]
    reported = 0
    for step in range(60):
        user = rng.choice(users)
        roll = rng.random()
        if roll < 0.7:
            # The user's phones now: up to three of its ids, each with any number of the
            # pool (an id may even come back with another number).
            ids = rng.sample(range(3), rng.randint(0, 3))
            phones = [phone(f"idn_{user}_{i}", rng.choice(numbers)) for i in ids]
            apply(conn, snapshot(user, moment(1, step), phones))
        elif roll < 0.82:
            apply(conn, deletion(user, moment(1, step)))
        elif roll < 0.92:
            erase.erase_users(conn, [user])
        else:
            erase.erase_deleted(conn, 0)
        reported += len(check(conn))
    assert reported > 0, "some steps shared a number"
    conn.execute("TRUNCATE clerk.phone_numbers")
    assert conn.execute(COUNTS).fetchall() == []


def test_erasure_takes_a_number_out_with_its_last_phone(conn: psycopg.Connection) -> None:
    apply(
        conn,
        snapshot("user_a", moment(1), [phone("idn_a1", N1), phone("idn_a2", N2)]),
        snapshot("user_b", moment(1), [phone("idn_b1", N1)]),
    )
    assert conn.execute(COUNTS).fetchall() == [(N1, 2), (N2, 1)]
    erase.erase_users(conn, ["user_a"])
    # Only the number another person's phone still carries stays.
    assert conn.execute(COUNTS).fetchall() == [(N1, 1)]
    erase.erase_users(conn, ["user_b"])
    assert conn.execute(COUNTS).fetchall() == []
    check(conn)
