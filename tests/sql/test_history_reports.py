"""Reports rebuilt from phone_number_history: time to verify and phone_numbers_as_of."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.support.bodies import STORY
from tests.support.crafted import HIGH_ID, LOW_ID, apply, deletion, moment, ms, phone, snapshot
from tests.support.databases import every_database
from tests.worker.mirror.helpers import deliver, drain, put


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    every_database(metafunc)  # on the server's default database and on a far one


IN_ORDER = [(name, f"msg_{i}") for i, name in enumerate(STORY)]
# The effective time of each story step: the snapshot's updated_at, the deletion's timestamp.
STEP_TIMES = [datetime(2025, 1, 1, 0, minute, tzinfo=UTC) for minute in range(6)]

Table = tuple[list[str], list[tuple[Any, ...]]]
# phone_numbers_as_of returns what clerk_reporting may read: the masked number and its hash.
AS_OF_COLUMNS = (
    "id, user_id, phone_number_masked, phone_number_hash, region_code, "
    "reserved_for_second_factor, default_second_factor, is_primary, verification_status, "
    "verification_strategy, verification_attempts, verification_expire_at, linked_to, "
    "created_at, updated_at, deleted_at"
)


def held_now(conn: psycopg.Connection) -> Table:
    cur = conn.execute(f"SELECT {AS_OF_COLUMNS} FROM clerk.phone_numbers ORDER BY id")  # noqa: S608
    return [c.name for c in cur.description or ()], cur.fetchall()


def as_of(conn: psycopg.Connection, when: datetime) -> Table:
    cur = conn.execute("SELECT * FROM clerk.phone_numbers_as_of(%s) ORDER BY id", (when,))
    return [c.name for c in cur.description or ()], cur.fetchall()


def time_to_verify_events() -> list[dict[str, Any]]:
    us, gb = "+12025550161", "+447700900457"
    late_jan = datetime(2025, 1, 31, 23, 59, tzinfo=UTC)
    return [
        snapshot("user_1", moment(10), [phone("idn_1", us, status="unverified")]),
        snapshot("user_1", moment(10, 2), [phone("idn_1", us)]),  # 120 s
        snapshot("user_2", moment(20), [phone("idn_2", us, status="unverified")]),
        snapshot("user_2", moment(20, 30), [phone("idn_2", us, status="unverified", attempts=2)]),
        snapshot("user_2", moment(20, 60), [phone("idn_2", us)]),  # 3600 s
        snapshot("user_2", moment(21), [phone("idn_2", us, reserved=True)]),  # verified again
        snapshot("user_3", moment(1, month=2), [phone("idn_3", gb, strategy="admin")]),  # 0 s
        snapshot("user_4", late_jan, [phone("idn_4", us, status="unverified")]),
        snapshot("user_4", moment(1, month=2), [phone("idn_4", us)]),  # 60 s, in February
        snapshot("user_5", moment(5), [phone("idn_5", us, status="unverified")]),  # never
        snapshot("user_6", moment(5), [phone("idn_6", us, status="unverified")]),
        snapshot("user_6", moment(5, 10), [phone("idn_6", us)]),  # 600 s, then deleted
        deletion("user_6", moment(6)),
    ]


def test_time_to_verify_gives_median_and_p90_per_verification_month_and_region(
    conn: psycopg.Connection,
) -> None:
    expected = [
        (date(2025, 1, 1), "US", 3, Decimal("600.000"), Decimal("3000.000")),
        (date(2025, 2, 1), "GB", 1, Decimal("0.000"), Decimal("0.000")),
        (date(2025, 2, 1), "US", 1, Decimal("60.000"), Decimal("60.000")),
    ]
    for order in (time_to_verify_events(), time_to_verify_events()[::-1]):
        with conn.transaction(force_rollback=True):
            apply(conn, *order)
            assert conn.execute("SELECT * FROM clerk.report_time_to_verify").fetchall() == expected


def story_as_held(conn: psycopg.Connection) -> list[tuple[datetime, Table]]:
    """Deliver the story in order and keep what clerk.phone_numbers held after each step."""
    held = []
    for (name, svix_id), when in zip(IN_ORDER, STEP_TIMES, strict=True):
        deliver(conn, [(name, svix_id)])
        held.append((when, held_now(conn)))
    return held


def test_phone_numbers_as_of_each_story_step_is_what_the_table_held_then(
    conn: psycopg.Connection,
) -> None:
    held = story_as_held(conn)
    assert held[-1][1][1], "the last step holds the deleted phones"
    for when, table in held:
        assert as_of(conn, when) == table, when
    # Between two steps the earlier one still holds; before the story nothing did.
    assert as_of(conn, STEP_TIMES[3] + timedelta(seconds=30)) == held[3][1]
    columns, _ = held[0][1]
    assert as_of(conn, STEP_TIMES[0] - timedelta(milliseconds=1)) == (columns, [])


def test_phone_numbers_as_of_is_the_same_whatever_the_delivery_order(
    conn: psycopg.Connection,
) -> None:
    with conn.transaction(force_rollback=True):
        held = story_as_held(conn)
    rng = random.Random(11)
    orders = [IN_ORDER[::-1]] + [rng.sample(IN_ORDER, len(IN_ORDER)) for _ in range(8)]
    for order in orders:
        with conn.transaction(force_rollback=True):
            deliver(conn, order)
            for when, table in held:
                assert as_of(conn, when) == table, ([s for _, s in order], when)


def test_phone_numbers_as_of_breaks_an_updated_at_tie_by_event_time_as_the_fold_does(
    conn: psycopg.Connection,
) -> None:
    number, tie = "+12025550171", moment(3)
    before = snapshot("user_1", moment(2), [phone("idn_1", number, status="unverified")])
    earlier = snapshot("user_1", tie, [phone("idn_1", number, status="unverified", attempts=2)])
    later = snapshot("user_1", tie, [phone("idn_1", number)])
    later["timestamp"] = ms(tie) + 500
    # The later event arrives first, under a svix-id that sorts first: its history row is
    # kept by the re-fold, so neither history_id nor svix-id order tells which came last.
    for body, svix_id in ((before, "msg_0"), (later, "msg_a"), (earlier, "msg_b")):
        put(conn, body, svix_id)
        drain(conn)
    held = held_now(conn)
    assert held[1][0][8:11] == ("verified", "phone_code", 1)
    assert as_of(conn, tie) == held


def test_phone_numbers_as_of_breaks_a_full_tie_by_svix_id_code_points_as_the_fold_does(
    conn: psycopg.Connection,
) -> None:
    # Same updated_at, same timestamp: only the svix-ids order them, by code point.
    number, tie = "+12025550172", moment(3)
    low = snapshot("user_1", tie, [phone("idn_1", number, status="unverified")])
    high = snapshot("user_1", tie, [phone("idn_1", number, reserved=True)])
    for order in ([(low, LOW_ID), (high, HIGH_ID)], [(high, HIGH_ID), (low, LOW_ID)]):
        with conn.transaction(force_rollback=True):
            for body, svix_id in order:
                put(conn, body, svix_id)
                drain(conn)
            held = held_now(conn)
            assert held[1][0][5:9] == (True, False, True, "verified")
            assert as_of(conn, tie) == held
