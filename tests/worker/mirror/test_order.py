"""Events that tie on both times are ordered by svix-id code points, in Python and SQL alike."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.support.crafted import HIGH_ID, LOW_ID, moment, phone, snapshot
from tests.support.databases import FAR_ZONE
from tests.worker.mirror.helpers import drain, mirror_state, put

NUMBER = "+12025550181"
TIE = moment(3)


def tied(svix_id: str) -> dict[str, Any]:
    """One of two snapshots at the same updated_at and timestamp; they differ everywhere."""
    if svix_id == HIGH_ID:
        return snapshot("user_1", TIE, [phone("idn_1", NUMBER, reserved=True)], two_factor=True)
    return snapshot("user_1", TIE, [phone("idn_1", NUMBER, status="unverified")])


def deliver(conn: psycopg.Connection, events: list[tuple[dict[str, Any], str]]) -> None:
    for body, svix_id in events:
        put(conn, body, svix_id)
        drain(conn)


def test_the_far_database_orders_these_svix_ids_unlike_python(far_shared_db_url: str) -> None:
    # What the tests below rely on: without it they would pass on any code.
    assert LOW_ID < HIGH_ID
    with psycopg.connect(far_shared_db_url) as conn:
        row = conn.execute(
            'SELECT %(high)s::text < %(low)s::text, %(low)s::text COLLATE "C" < %(high)s::text,'
            " current_setting('TimeZone')",
            {"low": LOW_ID, "high": HIGH_ID},
        ).fetchone()
    assert row == (True, True, FAR_ZONE)


def test_a_full_tie_takes_the_user_and_its_phones_from_the_higher_svix_id(
    conn: psycopg.Connection,
) -> None:
    for order in ([LOW_ID, HIGH_ID], [HIGH_ID, LOW_ID]):
        with conn.transaction(force_rollback=True):
            deliver(conn, [(tied(svix_id), svix_id) for svix_id in order])
            user = conn.execute(
                "SELECT two_factor_enabled, version_svix_id FROM clerk.users"
            ).fetchone()
            phones = conn.execute(
                "SELECT verification_status, reserved_for_second_factor FROM clerk.phone_numbers"
            ).fetchall()
            assert (user, phones) == ((True, HIGH_ID), [("verified", True)]), order


def test_a_late_event_after_a_full_tie_folds_onto_the_higher_svix_id(
    conn: psycopg.Connection,
) -> None:
    # Same phone as HIGH_ID's: on top of the right checkpoint it changes nothing.
    same = snapshot("user_1", moment(4), [phone("idn_1", NUMBER, reserved=True)], two_factor=True)
    newer = snapshot("user_1", moment(5), [phone("idn_1", NUMBER, reserved=True, default=True)])
    tie = [(tied(LOW_ID), LOW_ID), (tied(HIGH_ID), HIGH_ID)]
    with conn.transaction(force_rollback=True):
        deliver(conn, [*tie, (same, "msg_same"), (newer, "msg_newer")])
        expected = mirror_state(conn)
    deliver(conn, [*tie, (newer, "msg_newer"), (same, "msg_same")])
    assert mirror_state(conn) == expected
    assert [r["svix_id"] for r in expected["history"]] == [LOW_ID, HIGH_ID, "msg_newer"]
