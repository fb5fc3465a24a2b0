"""How four reports read at scale (migrations 0029 and 0030), and that the new reads give the old
rows.

report_two_factor_adoption counts rows per month and `kind`, one integer that stands for a
row's fourteen values, and decodes the counts: every kind there can be must decode to the
sums of the fourteen columns. report_risky_phone_numbers reads its rows, in order, from a
partial index alone, and report_sms_pumping its rows, in order, from
sms_prefix_days_report_idx alone; report_time_to_verify reads its groups in three parts that
Postgres can give to three processes. A small mirror does not get these plans by cost, so
the plans are checked with the alternatives priced out: what is checked is that the index
matches the query and that the parts are independent scans of it.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.support.plans import nodes, plan_of

# Every combination of the five net changes (-1, 0, 1) and the eight flags: 62,208 users, one
# row each, over five months.
EVERY_KIND = """
INSERT INTO clerk.user_factor_changes (user_id, month, live, two_factor, two_factor_on,
    two_factor_off, totp, totp_on, totp_off, backup_codes, backup_codes_on, backup_codes_off,
    phone, phone_on, phone_off)
SELECT 'user_kind_' || g, date '2025-01-01' + (g % 5) * interval '1 month',
       g % 3 - 1, g / 3 % 3 - 1, (g / 243 & 1) <> 0, (g / 243 & 2) <> 0,
       g / 9 % 3 - 1, (g / 243 & 4) <> 0, (g / 243 & 8) <> 0,
       g / 27 % 3 - 1, (g / 243 & 16) <> 0, (g / 243 & 32) <> 0,
       g / 81 % 3 - 1, (g / 243 & 64) <> 0, (g / 243 & 128) <> 0
FROM generate_series(0, 62207) AS g  -- 3 ^ 5 * 2 ^ 8 kinds
"""
# The report's counts from the fourteen columns themselves, as it read them before 0029.
SUMMED = """
SELECT month, sum(sum(live)) OVER w, sum(sum(two_factor)) OVER w,
       count(*) FILTER (WHERE two_factor_on), count(*) FILTER (WHERE two_factor_off),
       sum(sum(totp)) OVER w, count(*) FILTER (WHERE totp_on), count(*) FILTER (WHERE totp_off),
       sum(sum(backup_codes)) OVER w, count(*) FILTER (WHERE backup_codes_on),
       count(*) FILTER (WHERE backup_codes_off),
       sum(sum(phone)) OVER w, count(*) FILTER (WHERE phone_on), count(*) FILTER (WHERE phone_off)
FROM clerk.user_factor_changes
GROUP BY month
WINDOW w AS (ORDER BY month)
ORDER BY month
"""
DECODED = """
SELECT month, users, two_factor_users, two_factor_turned_on, two_factor_turned_off,
       totp_users, totp_turned_on, totp_turned_off,
       backup_codes_users, backup_codes_turned_on, backup_codes_turned_off,
       phone_users, phone_turned_on, phone_turned_off
FROM clerk.report_two_factor_adoption
"""
# A small mirror is read whole by cost; these leave only the reads an index can give.
INDEXES_ONLY = "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off"
PARALLEL_FREE = (
    "SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0;"
    " SET LOCAL min_parallel_index_scan_size = 0; SET LOCAL min_parallel_table_scan_size = 0"
)


def node_types(plan: Any) -> list[str]:
    return [node["Node Type"] for node in nodes(plan)]


def index_reads(plan: Any) -> list[tuple[str, str]]:
    return [(node["Node Type"], node["Index Name"]) for node in nodes(plan)
            if "Index Name" in node]  # fmt: skip


def read_in_order_from_index_alone(conn: psycopg.Connection, index: str, *queries: str) -> None:
    """Each query's one read is an index-only scan of `index`, with no sort after it."""
    for query in queries:
        plan = plan_of(conn, query)
        assert index_reads(plan) == [("Index Only Scan", index)], query
        assert "Sort" not in node_types(plan), query


def test_every_kind_decodes_to_the_sums_of_its_columns(conn: psycopg.Connection) -> None:
    conn.execute(EVERY_KIND)
    kinds_stored = conn.execute(
        "SELECT count(DISTINCT kind), min(kind), max(kind) FROM clerk.user_factor_changes"
    ).fetchone()
    assert kinds_stored == (62_208, 0, 62_207)
    expected = conn.execute(SUMMED).fetchall()
    assert len(expected) == 5
    assert conn.execute(DECODED).fetchall() == expected


def test_a_net_change_outside_minus_one_to_one_is_refused(conn: psycopg.Connection) -> None:
    # `kind` holds each net change as one base-3 digit: a 2 would read as another row's value.
    with (
        pytest.raises(psycopg.errors.CheckViolation, match="user_factor_changes_digits"),
        conn.transaction(),
    ):
        conn.execute(
            "INSERT INTO clerk.user_factor_changes VALUES ('user_kind_2', '2025-01-01',"
            " 2, 0, false, false, 0, false, false, 0, false, false, 0, false, false)"
        )


def test_two_factor_adoption_counts_kinds_from_their_index(conn: psycopg.Connection) -> None:
    conn.execute(EVERY_KIND)
    conn.execute("ANALYZE clerk.user_factor_changes")
    conn.execute(INDEXES_ONLY)
    plan = plan_of(conn, "SELECT * FROM clerk.report_two_factor_adoption")
    assert ("Index Only Scan", "user_factor_changes_kind_idx") in index_reads(plan)


def test_risky_numbers_are_read_in_order_from_their_index_alone(
    conn: psycopg.Connection,
) -> None:
    conn.execute(
        "INSERT INTO clerk.phone_numbers (id, user_id, reserved_for_second_factor,"
        " default_second_factor, is_primary, verification_status, number_type,"
        " is_test_number, deleted_at)"
        " SELECT 'idn_risk_' || g, 'user_risk_' || g, false, false, false, 'verified',"
        " (ARRAY['mobile', 'voip', 'premium_rate', 'fixed_line'])[g % 4 + 1], g % 7 = 0,"
        " CASE WHEN g % 11 = 0 THEN now() END"
        " FROM generate_series(1, 2000) AS g"
    )
    conn.execute("ANALYZE clerk.phone_numbers")
    conn.execute(INDEXES_ONLY)
    read_in_order_from_index_alone(
        conn,
        "phone_numbers_risky_idx",
        "SELECT * FROM clerk.report_risky_phone_numbers",
        "SELECT * FROM clerk.risky_phone_numbers(production => false)",
    )
    listed = conn.execute("SELECT phone_number_id FROM clerk.report_risky_phone_numbers")
    assert len(listed.fetchall()) == len(
        [g for g in range(1, 2001) if g % 11 and (g % 4 in (1, 2) or g % 7 == 0)]
    )


def test_sms_pumping_reads_its_rows_in_order_from_the_index_alone(
    conn: psycopg.Connection,
) -> None:
    # A day's rows are written as its messages come, in no order of prefix: read through the
    # table, each row of the report was a page fetch of its own.
    conn.execute(
        "INSERT INTO clerk.sms_prefix_days (day, region_code, number_prefix, sends,"
        " numbers_sent_to, numbers_verified, base_sends, base_numbers, base_verified)"
        " SELECT date '2025-01-01' + g % 40, (ARRAY['US', 'GB', NULL])[g % 3 + 1],"
        " '+1555' || (g * 7919 % 10007), g % 30 + 1, g % 30 + 1, g % 4, g % 200, g % 90, g % 50"
        " FROM generate_series(1, 3000) AS g ORDER BY g % 40, random()"
    )
    conn.execute("ANALYZE clerk.sms_prefix_days")
    conn.execute(INDEXES_ONLY)
    read_in_order_from_index_alone(
        conn,
        "sms_prefix_days_report_idx",
        "SELECT * FROM clerk.report_sms_pumping",
        "SELECT * FROM clerk.sms_pumping(min_sends => 3, min_jump => 2)",
    )


def test_time_to_verify_reads_three_parts_that_can_run_in_parallel(
    conn: psycopg.Connection,
) -> None:
    conn.execute(
        "INSERT INTO clerk.phone_facts (phone_number_id, user_id, first_seen_at, ever_failed,"
        " ever_expired, ever_reserved, added_day, verified_month, first_verified_region_code,"
        " seconds_to_verify)"
        " SELECT 'idn_ttv_' || g, 'user_ttv_' || g, now(), false, false, false, current_date,"
        " date '2025-01-01' + (g % 12) * interval '1 month', 'GB', g % 97"
        " FROM generate_series(1, 3000) AS g"
    )
    conn.execute("ANALYZE clerk.phone_facts")
    # The statistics object tells the planner each part is about a third of the rows.
    part = plan_of(
        conn,
        "SELECT * FROM clerk.phone_facts WHERE verified_month IS NOT NULL"
        " AND extract(month FROM verified_month)::integer % 3 = 1",
        analyze=False,
    )
    assert 700 <= part["Plan Rows"] <= 1300
    conn.execute(INDEXES_ONLY)
    conn.execute(PARALLEL_FREE)
    plan = plan_of(conn, "SELECT * FROM clerk.report_time_to_verify")
    appends = [node for node in nodes(plan) if node["Node Type"] == "Append"]
    assert [node["Parallel Aware"] for node in appends] == [True]  # a Parallel Append
    assert index_reads(plan) == [("Index Only Scan", "phone_facts_verified_part_idx")] * 3
    rows = conn.execute("SELECT month, verified FROM clerk.report_time_to_verify").fetchall()
    assert [month.month for month, _ in rows] == list(range(1, 13))
    assert sum(verified for _, verified in rows) == 3000
