"""The sync-health report, over inbox rows written by the real ingest and apply code."""

from __future__ import annotations

from decimal import Decimal

import psycopg

from tests.crafted import moment, phone, snapshot
from tests.mirror_helpers import drain, put
from worker import queries


def test_sync_health_counts_inbox_statuses(conn: psycopg.Connection) -> None:
    bad = snapshot("user_1", moment(1), [phone("idn_1", "+12025550151")])
    bad["data"]["updated_at"] = "soon"
    put(conn, bad, "failed_1")
    put(conn, snapshot("user_2", moment(1), []), "processed_1")
    drain(conn)
    put(conn, snapshot("user_3", moment(1), []), "pending_1")
    put(conn, snapshot("user_4", moment(1), []), "pending_2")
    put(conn, snapshot("user_5", moment(1), []), "dead_1")
    # The worker's own give-up path: the last allowed attempt crashed.
    conn.execute(
        queries.RECORD_ATTEMPT,
        {"svix_ids": ["dead_1"], "error": "boom", "max_attempts": 1, "backoff_s": 1.0},
    )
    now = conn.execute("SELECT now()").fetchone()
    assert now is not None
    # Inside one transaction now() stands still, so every event is 0 seconds old.
    assert conn.execute("SELECT * FROM clerk.report_sync_health").fetchall() == [
        (2, 1, 1, Decimal("0.000"), now[0], 5)
    ]
