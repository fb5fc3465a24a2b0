"""Reports: each reporting view and as-of query on a generated mirror, against full scans.

Every figure is server-side execution time (EXPLAIN ANALYZE, timing of nodes off, so that
no row crosses to the client), the median of 3. Beside each report is the time of a full
scan of the tables it reads (count(*) of each, summed), taken in the same run, and the ratio.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any, Final, LiteralString

import psycopg
from psycopg import sql

from bench import report_data
from worker import db

RUNS = 3
# The middle of the generated 700 days: about half of each phone's history lies after it.
AS_OF: Final = "2024-12-01 00:00:00+00"
USER_SAMPLE = 5

# name, query, the tables a full scan of which is its baseline (what its plan reads:
# the history reports read clerk.phone_facts or clerk.user_factor_changes, which the apply
# path keeps, not the histories; since 0012 the live phone counts read clerk.phone_numbers
# alone)
QUERIES: Final[tuple[tuple[str, LiteralString, tuple[str, ...]], ...]] = (
    ("verification_status", "SELECT * FROM clerk.report_verification_status",
     ("phone_numbers",)),
    ("two_factor", "SELECT * FROM clerk.report_two_factor", ("phone_numbers", "users")),
    ("phone_regions", "SELECT * FROM clerk.report_phone_regions", ("phone_numbers",)),
    ("integrity", "SELECT * FROM clerk.report_integrity", ("phone_numbers", "users")),
    ("sync_health", "SELECT * FROM clerk.report_sync_health", ("webhook_events",)),
    ("time_to_verify", "SELECT * FROM clerk.report_time_to_verify", ("phone_facts",)),
    ("two_factor_adoption", "SELECT * FROM clerk.report_two_factor_adoption",
     ("user_factor_changes",)),
    ("sms_verification_by_region_day",
     "SELECT * FROM clerk.report_sms_verification_by_region_day", ("phone_facts",)),
    # The SMS ledger reports read the sums that the writers keep: per day and prefix (since
    # 0021), and per day and region (since 0032); the ledger's own scan is printed beside.
    ("sms_conversion", "SELECT * FROM clerk.report_sms_conversion", ("sms_region_days",)),
    ("sms_pumping", "SELECT * FROM clerk.report_sms_pumping", ("sms_prefix_days",)),
    ("risky_phone_numbers", "SELECT * FROM clerk.report_risky_phone_numbers",
     ("phone_numbers",)),
    ("shared_phone_numbers", "SELECT * FROM clerk.report_shared_phone_numbers",
     ("phone_numbers", "users")),
    ("phone_numbers_as_of (whole mirror)",
     "SELECT * FROM clerk.phone_numbers_as_of(%(at)s)", ("phone_number_history",)),
)  # fmt: skip
AS_OF_USER: Final[LiteralString] = "SELECT * FROM clerk.phone_numbers_as_of(now(), %(user_id)s)"
SCAN: Final[LiteralString] = "SELECT count(*) FROM clerk.{}"
COUNTED: Final = (
    "users", "phone_numbers", "phone_number_history", "user_history", "sms_messages",
    "sms_prefix_days", "sms_region_days",
)  # fmt: skip
SEQ_SCAN_ONLY: Final[LiteralString] = (
    "SET enable_indexonlyscan = off; SET enable_indexscan = off; SET enable_bitmapscan = off"
)
# Reports over sums the writers keep of the SMS ledger: each is also set beside a scan of
# the ledger itself, what the sums stand for.
OVER_LEDGER: Final = ("sms_conversion", "sms_pumping")
RATIO_TARGET = 3.0
USER_TARGET_MS = 10.0


def execution_ms(conn: psycopg.Connection, query: Any, params: dict[str, Any]) -> float:
    """Planning plus execution time of one run, as the server measured it."""
    body = query if isinstance(query, sql.Composable) else sql.SQL(query)
    explain = sql.SQL("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ") + body
    row = conn.execute(explain, params).fetchone()
    assert row is not None
    plan = row[0][0]
    return float(plan["Planning Time"]) + float(plan["Execution Time"])


def median_ms(conn: psycopg.Connection, query: Any, params: dict[str, Any]) -> float:
    return statistics.median(execution_ms(conn, query, params) for _ in range(RUNS))


def scans(conn: psycopg.Connection) -> dict[str, float]:
    """A full scan of each table: its heap read row by row, never a smaller index."""
    tables = sorted({table for _, _, found in QUERIES for table in found} | {"sms_messages"})
    conn.execute(SEQ_SCAN_ONLY)
    try:
        return {t: median_ms(conn, sql.SQL(SCAN).format(sql.Identifier(t)), {}) for t in tables}
    finally:
        conn.execute("RESET ALL")


def measure(url: str) -> dict[str, Any]:
    with db.connect(url, autocommit=True) as conn:
        scan = scans(conn)
        reports = {}
        for name, query, tables in QUERIES:
            ms = median_ms(conn, query, {"at": AS_OF})
            base = sum(scan[t] for t in tables)
            reports[name] = {"ms": ms, "scan_ms": base, "tables": tables, "ratio": ms / base}
            if name in OVER_LEDGER:
                reports[name]["ledger_scan_ms"] = scan["sms_messages"]
        users = conn.execute("SELECT count(*) FROM clerk.users").fetchone()
        rng = random.Random(5)
        sample = [f"user_{rng.randint(1, users[0] if users else 1)}" for _ in range(USER_SAMPLE)]
        per_user = [median_ms(conn, AS_OF_USER, {"user_id": u}) for u in sample]
    return {"scan_ms": scan, "reports": reports, "as_of_user_ms": statistics.median(per_user)}


def run(url: str, users: int) -> dict[str, Any]:
    started = time.perf_counter()
    report_data.generate(url, users)
    took = time.perf_counter() - started
    print(f"  generated {users:,} users, {2 * users:,} phones, their history in {took:.0f} s")
    with db.connect(url) as conn:
        counts = {
            t: conn.execute(sql.SQL(SCAN).format(sql.Identifier(t))).fetchone() for t in COUNTED
        }
    result = measure(url)
    result["rows"] = {t: row[0] if row else 0 for t, row in counts.items()}
    result["generate_s"] = took
    return result
