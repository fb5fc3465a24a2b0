"""The reporting views, on mirror states built by applying signed events through the real code."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support.crafted import apply, deletion, moment, phone, snapshot
from tests.support.databases import every_database


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    every_database(metafunc)  # on the server's default database and on a far one


LIVE_VIEWS = ("report_verification_status", "report_phone_regions", "report_integrity")


def rows(conn: psycopg.Connection, view: str) -> list[tuple[Any, ...]]:
    query = sql.SQL("SELECT * FROM clerk.{}").format(sql.Identifier(view))
    return conn.execute(query).fetchall()


def test_empty_mirror_gives_zero_rows_or_one_row_of_zeros_and_null_shares(
    conn: psycopg.Connection,
) -> None:
    for view in (*LIVE_VIEWS, "report_time_to_verify"):
        assert rows(conn, view) == [], view
    assert rows(conn, "report_two_factor") == [(0, 0, None, 0, None, 0, None, 0, None, 0, None)]
    assert rows(conn, "report_sync_health") == [(0, 0, 0, None, None, 0)]


def test_verification_status_counts_live_numbers_and_null_verification_as_its_own_row(
    conn: psycopg.Connection,
) -> None:
    apply(
        conn,
        snapshot(
            "user_a",
            moment(1),
            [
                phone("idn_a1", "+12025550101"),
                phone("idn_a2", "+12025550102"),
                phone("idn_a3", "+12025550103", status="unverified"),
                phone("idn_a4", "+12025550104", status=None),
            ],
        ),
        # A deleted user's numbers and a removed number are not live: not counted.
        snapshot("user_b", moment(1), [phone("idn_b1", "+12025550105", strategy="admin")]),
        deletion("user_b", moment(2)),
        snapshot("user_c", moment(1), [phone("idn_c1", "+12025550106", status="expired")]),
        snapshot("user_c", moment(2), []),
    )
    assert rows(conn, "report_verification_status") == [
        ("verified", "phone_code", 2, Decimal("0.5000")),
        ("unverified", "phone_code", 1, Decimal("0.2500")),
        (None, None, 1, Decimal("0.2500")),
    ]


def test_two_factor_counts_factors_among_live_two_factor_users(conn: psycopg.Connection) -> None:
    reserved = phone("idn_1", "+12025550111", reserved=True, default=True)
    apply(
        conn,
        snapshot("user_1", moment(1), [reserved], two_factor=True, backup=True),
        snapshot("user_2", moment(1), [phone("idn_2", "+12025550112")], two_factor=True, totp=True),
        snapshot("user_3", moment(1), [phone("idn_3", "+12025550113", reserved=True)]),
        snapshot(
            "user_4", moment(1), [phone("idn_4", "+12025550114", reserved=True)], two_factor=True
        ),
        deletion("user_4", moment(2)),
        # The reserved phone was removed: it no longer counts as a second factor.
        snapshot(
            "user_5",
            moment(1),
            [phone("idn_5", "+12025550115", reserved=True)],
            two_factor=True,
            backup=True,
        ),
        snapshot("user_5", moment(2), [], two_factor=True, backup=True),
    )
    third, two_thirds = Decimal("0.3333"), Decimal("0.6667")
    assert rows(conn, "report_two_factor") == [
        (4, 3, Decimal("0.7500"), 1, third, 1, third, 1, third, 2, two_thirds)
    ]


def test_two_factor_shares_are_null_not_an_error_when_nobody_has_two_factor(
    conn: psycopg.Connection,
) -> None:
    apply(conn, snapshot("user_1", moment(1), [phone("idn_1", "+12025550111")]))
    assert rows(conn, "report_two_factor") == [
        (1, 0, Decimal("0.0000"), 0, None, 0, None, 0, None, 0, None)
    ]


def test_phone_regions_counts_live_and_verified_numbers_per_region(
    conn: psycopg.Connection,
) -> None:
    apply(
        conn,
        snapshot(
            "user_1",
            moment(1),
            [
                phone("idn_us1", "+12025550121"),
                phone("idn_us2", "+12025550122", status="unverified"),
                phone("idn_gb1", "+447700900456"),
                phone("idn_free", "+80012345678", status="unverified"),  # names no region
            ],
        ),
        snapshot("user_2", moment(1), [phone("idn_jp1", "+819012345679")]),
        snapshot("user_2", moment(2), []),
    )
    assert rows(conn, "report_phone_regions") == [
        ("US", 2, 1, Decimal("0.5000")),
        ("GB", 1, 1, Decimal("1.0000")),
        (None, 1, 0, Decimal("0.0000")),
    ]


def test_integrity_reports_each_anomaly_once_without_phone_numbers(
    conn: psycopg.Connection,
) -> None:
    both = [phone(f"idn_m{i}", f"+1202555013{i}", reserved=True, default=True) for i in (1, 2)]
    removed = phone("idn_p2", "+12025550141")
    apply(
        conn,
        snapshot("user_multi", moment(1), both, two_factor=True),
        snapshot(
            "user_dnr",
            moment(1),
            [phone("idn_d1", "+12025550142", default=True)],
            two_factor=True,
            backup=True,
        ),
        snapshot(
            "user_rnv",
            moment(1),
            [phone("idn_r1", "+12025550143", status="unverified", reserved=True)],
            two_factor=True,
            totp=True,
        ),
        snapshot("user_nofactor", moment(1), [phone("idn_n1", "+12025550144")], two_factor=True),
        snapshot(
            "user_primary", moment(1), [phone("idn_p1", "+12025550145")], primary="idn_nowhere"
        ),
        snapshot("user_removed", moment(1), [removed]),
        snapshot("user_removed", moment(2), [], primary="idn_p2"),
        snapshot(
            "user_healthy",
            moment(1),
            [phone("idn_h1", "+12025550146", reserved=True, default=True)],
            two_factor=True,
        ),
        # A deleted user's anomalies are no longer anyone's problem.
        snapshot("user_gone", moment(1), [], two_factor=True, primary="idn_nowhere"),
        deletion("user_gone", moment(2)),
    )
    found = rows(conn, "report_integrity")
    assert found == [
        (
            "default_not_reserved",
            "user_dnr",
            "idn_d1",
            "default_second_factor but not reserved_for_second_factor",
        ),
        (
            "primary_phone_missing",
            "user_primary",
            "idn_nowhere",
            "primary_phone_number_id is not in the mirror",
        ),
        (
            "primary_phone_missing",
            "user_removed",
            "idn_p2",
            "primary_phone_number_id was deleted at 2025-01-02T00:00:00Z",
        ),
        (
            "reserved_not_verified",
            "user_rnv",
            "idn_r1",
            "reserved_for_second_factor but verification_status is unverified",
        ),
        (
            "several_default_second_factors",
            "user_multi",
            None,
            "2 phone numbers are default_second_factor: idn_m1, idn_m2",
        ),
        (
            "two_factor_without_factor",
            "user_nofactor",
            None,
            "two_factor_enabled with no phone reserved_for_second_factor, no TOTP, no backup codes",
        ),
    ]
    assert not any("+" in detail or "2025550" in detail for *_, detail in found)


def test_a_primary_phone_written_under_another_user_changes_the_holder_s_finding(
    conn: psycopg.Connection,
) -> None:
    # user_a is never written again after its first snapshot, yet its finding follows the
    # phone its primary_phone_number_id names (users.primary_phone_problem, 0012).
    def findings() -> list[tuple[Any, ...]]:
        return [r for r in rows(conn, "report_integrity") if r[0] == "primary_phone_missing"]

    apply(conn, snapshot("user_a", moment(1), [], primary="idn_x"))
    assert findings() == [
        ("primary_phone_missing", "user_a", "idn_x", "primary_phone_number_id is not in the mirror")
    ]
    apply(conn, snapshot("user_b", moment(2), [phone("idn_x", "+12025550161")]))
    belongs = "primary_phone_number_id belongs to another user"
    assert findings() == [("primary_phone_missing", "user_a", "idn_x", belongs)]
    # user_a takes the phone: its finding goes, and user_b (not written) gets one.
    apply(conn, snapshot("user_a", moment(3), [phone("idn_x", "+12025550161")], primary="idn_x"))
    assert findings() == [("primary_phone_missing", "user_b", "idn_x", belongs)]
    apply(conn, snapshot("user_a", moment(4), [], primary="idn_x"))
    assert findings() == [
        (
            "primary_phone_missing",
            "user_a",
            "idn_x",
            "primary_phone_number_id was deleted at 2025-01-04T00:00:00Z",
        ),
        ("primary_phone_missing", "user_b", "idn_x", belongs),
    ]
