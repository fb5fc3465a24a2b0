"""clerk.user_history through the real apply path, and the per-user phone_numbers_as_of."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tests.sql.test_history_reports import IN_ORDER, STEP_TIMES
from tests.support.bodies import STORY
from tests.worker.mirror.helpers import deliver

ADA = "user_2pAdaExample0000000000001"
US, GB = "idn_2pPhoneAdaUS00000000001", "idn_2pPhoneAdaGB00000000002"


def user_history(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT user_id, change, primary_phone_number_id, two_factor_enabled, totp_enabled,"
        " backup_code_enabled, deleted_at, svix_id, effective_at"
        " FROM clerk.user_history ORDER BY user_id, effective_at, event_at, svix_id"
    ).fetchall()


def test_user_history_has_a_row_only_where_a_followed_field_changed(
    conn: psycopg.Connection,
) -> None:
    deliver(conn, IN_ORDER)
    t = STEP_TIMES
    # Steps 1 (phone verified) and 3 (second phone expired) change phones only.
    assert user_history(conn) == [
        (ADA, "created", US, False, False, False, None, "msg_0", t[0]),
        (ADA, "updated", US, True, False, True, None, "msg_2", t[2]),
        (ADA, "updated", GB, True, True, True, None, "msg_4", t[4]),
        (ADA, "deleted", GB, True, True, True, t[5], "msg_5", t[5]),
    ]


def test_user_history_is_the_same_whatever_the_delivery_order(conn: psycopg.Connection) -> None:
    with conn.transaction(force_rollback=True):
        deliver(conn, IN_ORDER)
        expected = user_history(conn)
    rng = random.Random(7)
    orders = [IN_ORDER[::-1]] + [rng.sample(IN_ORDER, len(IN_ORDER)) for _ in range(10)]
    for order in orders:
        with conn.transaction(force_rollback=True):
            deliver(conn, order)
            assert user_history(conn) == expected, [s for _, s in order]


def test_a_redelivered_event_writes_no_second_user_history_row(conn: psycopg.Connection) -> None:
    deliver(conn, IN_ORDER[:3])
    deliver(conn, [(IN_ORDER[2][0], "msg_2_again"), IN_ORDER[2]])
    assert [row[7] for row in user_history(conn)] == ["msg_0", "msg_2"]


def test_per_user_as_of_equals_the_whole_mirror_as_of_filtered_to_the_user(
    conn: psycopg.Connection,
) -> None:
    deliver(conn, [(name, f"msg_{i}") for i, name in enumerate(STORY)])
    deliver(conn, [("user.updated__legacy_shape", "legacy")])
    moments = [*STEP_TIMES, datetime.now(tz=UTC), STEP_TIMES[0] - timedelta(seconds=1)]
    for when in moments:
        whole = conn.execute(
            "SELECT * FROM clerk.phone_numbers_as_of(%s) WHERE user_id = %s ORDER BY id",
            (when, ADA),
        ).fetchall()
        one = conn.execute(
            "SELECT * FROM clerk.phone_numbers_as_of(%s, %s) ORDER BY id", (when, ADA)
        ).fetchall()
        assert one == whole, when
    held = conn.execute("SELECT * FROM clerk.phone_numbers_as_of(%s, %s)", (STEP_TIMES[3], ADA))
    assert len(held.fetchall()) == 2, "the comparison above is not between empty answers"


def test_a_late_event_after_a_purge_is_recorded_in_user_history_at_its_place(
    conn: psycopg.Connection,
) -> None:
    deliver(conn, [IN_ORDER[0], IN_ORDER[4]])
    conn.execute("UPDATE clerk.webhook_events SET payload = NULL")  # as the purge leaves them
    deliver(conn, [IN_ORDER[2]])  # 2FA turned on, older than what the mirror holds
    t = STEP_TIMES
    assert user_history(conn) == [
        (ADA, "created", US, False, False, False, None, "msg_0", t[0]),
        (ADA, "updated", US, True, False, True, None, "msg_2", t[2]),
        (ADA, "updated", GB, True, True, True, None, "msg_4", t[4]),
    ]
