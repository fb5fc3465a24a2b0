"""report_two_factor_adoption and report_sms_verification_by_region_day, from signed events."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from tests.sql.test_history_reports import IN_ORDER
from tests.support.crafted import apply, deletion, moment, phone, snapshot
from tests.worker.mirror.helpers import deliver

ADOPTION = "SELECT * FROM clerk.report_two_factor_adoption"
SMS = "SELECT * FROM clerk.report_sms_verification_by_region_day"
US, GB = "+1202555{:04d}", "+44770090{:04d}"


def rows(conn: psycopg.Connection, query: Any) -> list[tuple[Any, ...]]:
    return conn.execute(query).fetchall()


def adoption_events() -> list[dict[str, Any]]:
    a = [phone("idn_a", US.format(1))]
    b = [phone("idn_b", US.format(2), reserved=True, default=True)]
    return [
        snapshot("user_a", moment(5), a),
        snapshot("user_a", moment(10), a, two_factor=True, totp=True),
        # First seen with 2FA on through a phone: on at month end, never "turned on".
        snapshot("user_b", moment(20), b, two_factor=True),
        snapshot("user_a", moment(3, month=3), a),  # TOTP off, so 2FA off
        deletion("user_b", moment(10, month=3)),  # deleted with 2FA on: not "turned off"
    ]


def test_two_factor_adoption_counts_month_ends_and_switches_per_factor(
    conn: psycopg.Connection,
) -> None:
    jan, feb, mar = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)
    one, zero = Decimal("1.0000"), Decimal("0.0000")
    # month, users, 2FA users/on/off/share, TOTP users/on/off, backup codes, phone
    expected = [
        (jan, 2, 2, 1, 0, one, 1, 1, 0, 0, 0, 0, 1, 0, 0),
        (feb, 2, 2, 0, 0, one, 1, 0, 0, 0, 0, 0, 1, 0, 0),  # no change: carried forward
        (mar, 1, 0, 0, 1, zero, 0, 0, 1, 0, 0, 0, 0, 0, 0),
    ]
    events = adoption_events()
    for order in (events, events[::-1], random.Random(3).sample(events, len(events))):
        with conn.transaction(force_rollback=True):
            apply(conn, *order)
            assert rows(conn, ADOPTION) == expected


def test_two_factor_adoption_of_the_fixture_story_sees_each_factor_switched(
    conn: psycopg.Connection,
) -> None:
    deliver(conn, IN_ORDER)
    # Ada turns on 2FA with backup codes and her US phone, swaps the phone for TOTP, and is
    # deleted within January: everything switched on, nothing left at month end.
    assert rows(conn, ADOPTION) == [
        (date(2025, 1, 1), 0, 0, 1, 0, None, 0, 1, 0, 0, 1, 0, 0, 1, 1),
    ]


def sms_events() -> list[dict[str, Any]]:
    pumped = [phone(f"idn_p{i}", GB.format(i), status="unverified") for i in range(25)]
    pumped[0] = phone("idn_p0", GB.format(0))
    gb = [phone(f"idn_g{i}", GB.format(100 + i), status="unverified") for i in range(20)]
    gb_verified = [phone(f"idn_g{i}", GB.format(100 + i)) for i in range(20)]
    return [
        snapshot("user_g", moment(1), gb),
        snapshot("user_g", moment(1, 5), gb_verified),
        snapshot("user_u", moment(1), [phone("idn_u1", US.format(1), status="failed"),
                                       phone("idn_u2", US.format(2), status="expired")]),
        snapshot("user_p", moment(10), pumped),
        snapshot("user_h", moment(7, month=2), [phone("idn_h", GB.format(200))]),
    ]  # fmt: skip


def test_sms_verification_by_region_day_flags_a_day_far_above_its_baseline(
    conn: psycopg.Connection,
) -> None:
    apply(conn, *sms_events())
    d1, d10, feb7 = date(2025, 1, 1), date(2025, 1, 10), date(2025, 2, 7)
    one, zero = Decimal("1.0000"), Decimal("0.0000")
    assert rows(conn, SMS) == [
        (d1, "GB", 20, 20, 0, 0, one, zero, 0, None, False),
        (d1, "US", 2, 0, 1, 1, zero, one, 0, None, False),
        (d10, "GB", 25, 1, 0, 0, Decimal("0.0400"), Decimal("0.9600"), 20, zero, True),
        # 28 days back reaches January 10 but not January 1; one number is too few to flag.
        (feb7, "GB", 1, 1, 0, 0, one, zero, 25, Decimal("0.9600"), False),
    ]


def test_sms_thresholds_are_tuned_by_calling_the_function(conn: psycopg.Connection) -> None:
    apply(conn, *sms_events())
    flagged = (
        "SELECT day, region_code"
        " FROM clerk.sms_verification_by_region_day(%s::int, %s::numeric, %s::numeric)"
    )
    assert conn.execute(flagged + " WHERE suspicious", (20, 0.25, 4)).fetchall() == [
        (date(2025, 1, 10), "GB")
    ]
    assert conn.execute(flagged + " WHERE suspicious", (21, 0.25, 4)).fetchall() == []
    assert conn.execute(flagged + " WHERE suspicious", (20, 0.97, 4)).fetchall() == []
    # A region with no baseline is never suspicious, however low its rate: no division by 0.
    assert conn.execute(flagged + " WHERE suspicious", (1, 0, 0)).fetchall() == [
        (date(2025, 1, 10), "GB")
    ]


def test_new_reports_of_an_empty_mirror_have_no_rows(conn: psycopg.Connection) -> None:
    assert rows(conn, ADOPTION) == []
    assert rows(conn, SMS) == []
    assert rows(conn, "SELECT * FROM clerk.sms_verification_by_region_day(0, 0, 0)") == []
