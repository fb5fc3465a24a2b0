"""The SMS reports (sms_conversion, sms_pumping, risky_phone_numbers): exact rows on crafted
mirrors built through the real apply code, an empty mirror, and no division by zero."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.support.crafted import apply, moment, phone, put_all, sms, snapshot
from tests.support.databases import every_database


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    every_database(metafunc)


def rows(conn: psycopg.Connection, query: str) -> list[tuple[Any, ...]]:
    return conn.execute(query).fetchall()  # type: ignore[arg-type]


CONVERSION = "SELECT * FROM clerk.report_sms_conversion"
PUMPING = "SELECT * FROM clerk.report_sms_pumping"
RISKY = "SELECT * FROM clerk.report_risky_phone_numbers"
TUNED = (
    "SELECT * FROM clerk.sms_pumping(min_sends => 3, min_jump => 2, min_drop => 0.3,"
    " max_new_conversion => 0.2)"
)


def test_an_empty_mirror_gives_no_rows(conn: psycopg.Connection) -> None:
    for query in (CONVERSION, PUMPING, RISKY, TUNED):
        assert rows(conn, query) == [], query


def test_conversion_counts_codes_numbers_and_verified_numbers_per_day_and_region(
    conn: psycopg.Connection,
) -> None:
    apply(
        conn,
        snapshot("user_a", moment(1), [phone("idn_a1", "+447400123456")]),
        # Verified under another phone id than the send names: matched by the number.
        snapshot("user_b", moment(3), [phone("idn_b1", "+447400123457")]),
        snapshot("user_c", moment(1), [phone("idn_c1", "+12025550143", status="unverified")]),
    )
    put_all(
        conn,
        sms("sms_1", "+447400123456", moment(1, 5), user_id="user_a", phone_id="idn_a1"),
        sms("sms_2", "+447400123456", moment(1, 6), user_id="user_a", phone_id="idn_a1"),
        # Sign-up sends: no user yet.
        sms("sms_3", "+447400123457", moment(1, 7)),
        sms("sms_4", "+447400123458", moment(1, 8)),
        sms("sms_5", "+12025550143", moment(2), user_id="user_c", phone_id="idn_c1"),
        # An international freephone number names no region.
        sms("sms_6", "+80012345678", moment(2, 1)),
    )
    assert rows(conn, CONVERSION) == [
        (date(2025, 1, 1), "GB", 4, 3, 2, Decimal("0.6667")),
        (date(2025, 1, 2), "US", 1, 1, 0, Decimal("0.0000")),
        (date(2025, 1, 2), None, 1, 1, 0, Decimal("0.0000")),
    ]


def pumping_mirror(conn: psycopg.Connection) -> None:
    apply(conn, snapshot("user_a", moment(1), [phone("idn_a1", "+447400123456")]))
    put_all(
        conn,
        # The prefix's past: one code a month ago, to a number that was verified.
        sms("sms_base", "+447400123456", moment(1), user_id="user_a", phone_id="idn_a1"),
        # Day 10: four codes to four numbers no one verifies, under the same prefix.
        *[sms(f"sms_a{i}", f"+44740012000{i}", moment(10, i)) for i in range(1, 5)],
        # And three to a prefix never seen before.
        *[sms(f"sms_b{i}", f"+44740099000{i}", moment(10, i)) for i in range(1, 4)],
        sms("sms_c", "+12025550143", moment(10)),
    )


def test_pumping_flags_a_prefix_whose_sends_jump_while_conversion_falls_and_says_why(
    conn: psycopg.Connection,
) -> None:
    pumping_mirror(conn)
    base, zero, new = Decimal("0.0357"), Decimal("0.0000"), None
    assert rows(conn, TUNED) == [
        (date(2025, 1, 1), "GB", "+44740012", 1, 1, 1, Decimal("1.0000"), zero, new,
         Decimal("1.00"), False, None),
        (date(2025, 1, 10), "GB", "+44740012", 4, 4, 0, zero, base, Decimal("1.0000"),
         Decimal("4.00"), True,
         "4 sends, 4.00 times the baseline of 0.0357 a day; conversion 0.0000, down from 1.0000"),
        (date(2025, 1, 10), "GB", "+44740099", 3, 3, 0, zero, zero, new, Decimal("3.00"), True,
         "3 sends from a prefix with none in the 28 days before; conversion 0.0000"),
        (date(2025, 1, 10), "US", "+1202555", 1, 1, 0, zero, zero, new, Decimal("1.00"), False,
         None),
    ]  # fmt: skip
    # The defaults ask for far more: 20 sends and 5 times the baseline.
    assert [r[10] for r in rows(conn, PUMPING)] == [False] * 4


def test_risky_numbers_are_live_ones_of_costly_types_or_test_numbers_in_production(
    conn: psycopg.Connection,
) -> None:
    apply(
        conn,
        snapshot(
            "user_r",
            moment(1),
            [
                phone("idn_1", "+447400123456"),
                phone("idn_2", "+448712345678"),
                phone("idn_3", "+448001234567", reserved=True),
                phone("idn_4", "+445612345678", status="unverified"),
                phone("idn_5", "+12025550143"),
                phone("idn_6", "+447640123456"),
            ],
        ),
        # A removed premium number is no longer live.
        snapshot("user_s", moment(1), [phone("idn_7", "+448712345679")]),
        snapshot("user_s", moment(2), []),
    )
    assert rows(conn, RISKY) == [
        ("idn_2", "user_r", "+44 ••••••••78", None, "GB", "premium_rate", False, False,
         "verified", "premium-rate number"),
        ("idn_3", "user_r", "+44 ••••••••67", None, "GB", "toll_free", False, True,
         "verified", "toll-free number; a second factor"),
        ("idn_4", "user_r", "+44 ••••••••78", None, "GB", "voip", False, False,
         "unverified", "voip number"),
        ("idn_5", "user_r", "+1 ••••••••43", None, "US", "fixed_line_or_mobile", True, False,
         "verified", "Clerk test number in production"),
        ("idn_6", "user_r", "+44 ••••••••56", None, "GB", "pager", False, False,
         "verified", "pager number"),
    ]  # fmt: skip
    development = rows(conn, "SELECT phone_number_id FROM clerk.risky_phone_numbers(false)")
    assert development == [("idn_2",), ("idn_3",), ("idn_4",), ("idn_6",)]
