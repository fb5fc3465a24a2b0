"""The sync-health report, over inbox rows written by the real ingest and apply code."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from tests.support.crafted import moment, phone, snapshot
from tests.worker.mirror.helpers import drain, put
from worker.inbox import claim


def test_sync_health_counts_inbox_statuses(
    conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = snapshot("user_1", moment(1), [phone("idn_1", "+12025550151")])
    bad["data"]["updated_at"] = "soon"
    put(conn, bad, "failed_1")
    put(conn, snapshot("user_2", moment(1), []), "processed_1")
    drain(conn)
    put(conn, snapshot("user_3", moment(1), []), "pending_1")
    put(conn, snapshot("user_4", moment(1), []), "pending_2")
    put(conn, snapshot("user_5", moment(1), []), "dead_1")
    # The worker's own give-up path: the last allowed attempt crashed.
    monkeypatch.setattr(claim, "MAX_ATTEMPTS", 1)
    claim.record_attempt(conn, ["dead_1"], "boom")
    now = conn.execute("SELECT now()").fetchone()
    assert now is not None
    # Inside one transaction now() stands still, so every event is 0 seconds old.
    assert conn.execute("SELECT * FROM clerk.report_sync_health").fetchall() == [
        (2, 1, 1, Decimal("0.000"), now[0], 5)
    ]
