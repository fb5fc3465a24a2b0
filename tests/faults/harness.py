"""What every fault test needs: scratch space for servers, wake-ups, waits, and the verdict."""

from __future__ import annotations

import re
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from celery import Celery

from tests.faults.synth import Event, newest_per_user
from tests.support.databases import create_database, drop_database, with_dbname
from tests.support.processes import wait_for
from tests.worker.mirror.helpers import mirror_state, put
from worker.mirror import apply as mirror
from worker.mirror.events import EPOCH
from worker.task_names import DRAIN_TASK

DRAIN_DONE = re.compile(rb"clerk_mirror\.drain\[[^]]+\] succeeded in [\d.]+s: (\d+)")


class Waker:
    """Sends drain wake-ups the way the web process does, to one queue."""

    def __init__(self, redis_url: str, queue: str) -> None:
        self.app = Celery("cpm_fault_waker", broker=redis_url)
        self.app.conf.update(task_default_queue=queue, broker_connection_retry_on_startup=False)

    def wake(self, times: int = 1) -> None:
        for _ in range(times):
            self.app.send_task(DRAIN_TASK)

    def close(self) -> None:
        self.app.close()


def beat_argv(schedule: Path) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "worker.app", "beat", "-s", str(schedule)]


def processed(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM clerk.webhook_events WHERE status = 'processed'"
        ).fetchone()
    return int(row[0]) if row else 0


def wait_processed(url: str, count: int, timeout: float) -> None:
    wait_for(lambda: processed(url) >= count, timeout, f"{count} events processed")


def drained_counts(log: Path) -> list[int]:
    """How many events each finished drain task of a worker applied, from its log."""
    return [int(n) for n in DRAIN_DONE.findall(log.read_bytes())]


def one_by_one(server_url: str, template: str, events: list[Event]) -> dict[str, Any]:
    """The mirror and history a fresh database gets from the events applied one at a time.

    Users are independent, so two connections share the work, each on its own users and
    each in one transaction, so that neither sees (and drains) the other's events.
    """
    name = create_database(server_url, template=template)
    url = with_dbname(server_url, name)
    shares = [[e for e in events if int(e[1]["data"]["id"][-6:]) % 2 == k] for k in (0, 1)]
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda share: _apply_one_by_one(url, share), shares))
        with psycopg.connect(url) as conn:
            return mirror_state(conn)
    finally:
        drop_database(server_url, name)


def _apply_one_by_one(url: str, events: list[Event]) -> None:
    with psycopg.connect(url) as conn:
        for svix_id, body in events:
            put(conn, body, svix_id)
            assert mirror.apply_pending(conn).processed == [svix_id]


def assert_applied_exactly_once(url: str, events: list[Event], reference: dict[str, Any]) -> None:
    """Every event processed by one committed apply; mirror equals newest and the reference."""
    with psycopg.connect(url) as conn:
        inbox = conn.execute(
            "SELECT status, attempts, count(*) FROM clerk.webhook_events GROUP BY 1, 2"
        ).fetchall()
        duplicates = conn.execute(
            "SELECT phone_number_id, svix_id FROM clerk.phone_number_history"
            " GROUP BY 1, 2 HAVING count(*) > 1"
        ).fetchall()
        users = dict(conn.execute("SELECT id, updated_at FROM clerk.users").fetchall())
        live: dict[str, set[str]] = {}
        for phone_id, owner in conn.execute(
            "SELECT id, user_id FROM clerk.phone_numbers WHERE deleted_at IS NULL"
        ):
            live.setdefault(owner, set()).add(phone_id)
        state = mirror_state(conn)
    assert inbox == [("processed", 1, len(events))]
    assert duplicates == []
    newest = newest_per_user(events)
    assert {u: (t - EPOCH) // timedelta(milliseconds=1) for u, t in users.items()} == {
        u: ms for u, (ms, _) in newest.items()
    }
    assert live == {u: phones for u, (_, phones) in newest.items()}
    assert len(state["history"]) == len(reference["history"])
    assert state == reference
