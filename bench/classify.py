"""Classify: `clerk-mirror classify`'s work on rows mirrored before the number types existed.

The reports section's generated mirror (bench/report_data.py) with every number type
cleared, then classified in the command's chunks; the figure is rows (phones and history)
per second and the total time, and the baseline a full scan of both tables.
"""

from __future__ import annotations

import time
from typing import Any, Final, LiteralString

from bench import report_data
from worker import db
from worker.mirror import intel

CLEAR: Final[tuple[LiteralString, ...]] = (
    "UPDATE clerk.phone_numbers SET number_type = NULL, is_valid_number = NULL,"
    " is_test_number = NULL",
    "UPDATE clerk.phone_number_history SET number_type = NULL, is_valid_number = NULL,"
    " is_test_number = NULL",
    "VACUUM ANALYZE clerk.phone_numbers",
    "VACUUM ANALYZE clerk.phone_number_history",
)
CHUNK = 5000


def run(url: str, users: int) -> dict[str, Any]:
    report_data.generate(url, users)
    with db.connect(url, autocommit=True) as conn:
        for statement in CLEAR:
            conn.execute(statement)
        started = time.perf_counter()
        scan = conn.execute(
            "SELECT (SELECT count(*) FROM clerk.phone_numbers),"
            " (SELECT count(*) FROM clerk.phone_number_history)"
        ).fetchone()
        scan_s = time.perf_counter() - started
        total, started = 0, time.perf_counter()
        after: str | None = ""
        while after is not None:
            with conn.transaction():
                changed, after = intel.fill_chunk(conn, after, CHUNK)
            total += changed
        took = time.perf_counter() - started
    phones, history = scan if scan else (0, 0)
    print(f"  classified {total:,} rows ({phones:,} phones, {history:,} history) in {took:.0f} s")
    return {"rows": total, "phones": phones, "history": history, "seconds": took,
            "scan_s": scan_s, "rows_per_s": total / took if took else 0.0}  # fmt: skip
