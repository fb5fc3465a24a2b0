"""Backfill throughput: N generated users from the fake Backend API into a fresh mirror.

    python -m bench.backfill [N]

creates its own database on DATABASE_URL (or the local Postgres), and drops it after. It
prints the users/s and the CPU each process spent per user; Postgres's is its whole
server's, so read it where nothing else uses that server (make bench starts its own).
The fake API runs as a process of its own, as the real one is elsewhere: in this process
its threads would take turns with the backfill for the interpreter.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import db, procs
from bench.ingest import postmaster_pid
from tests.support.processes import free_port, running
from worker.backfill import run as backfill
from worker.backfill.clerk_api import ClerkClient
from worker.db import connect

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
KEY = "sk_test_bench"
SEED = 42


def run(database_url: str, n: int = 5000, work: Path | None = None) -> dict[str, Any]:
    """Backfill n users (no client-side rate limit) into a migrated, empty database, from
    the fake API, which answers at once; with the CPU each process spent per user."""
    port = free_port()
    argv = [sys.executable, "-m", "worker.backfill.fake_clerk", "--port", str(port),
            "--users", str(n), "--key", KEY, "--seed", str(SEED)]  # fmt: skip
    postmaster = postmaster_pid(database_url)
    with tempfile.TemporaryDirectory(prefix="cpm-bench-fake-") as tmp:
        log = (work or Path(tmp)) / "fake-clerk.log"
        with running(argv, {}, log) as fake:
            procs.wait_for_line(log, "fake Clerk Backend API on")
            with ClerkClient(f"http://127.0.0.1:{port}/v1", KEY, rate_limit=None) as client:
                before = _cpu(fake.pid, postmaster)
                started = time.perf_counter()
                summary = backfill.run(database_url, client)
                seconds = time.perf_counter() - started
                _backends_gone(database_url, postmaster)
                after = _cpu(fake.pid, postmaster)
    assert summary["users_seen"] == n, summary
    used = {key: after[key] - before[key] for key in after}
    return {
        "users": n,
        "seconds": round(seconds, 3),
        "users_per_s": round(n / seconds, 1),
        "cpu_us_per_user": {key: round(1e6 * value / n) for key, value in used.items()},
        "cores_busy": round(sum(used.values()) / seconds, 2),
    }


def _cpu(fake: int, postmaster: int | None) -> dict[str, float]:
    """CPU seconds so far: this process (the backfill's threads), its children that ended
    (the numbers' classifier, once the listing is done), the fake API, and Postgres (its
    postmaster, the backends it reaped and the ones alive)."""
    mine, children = resource.getrusage(resource.RUSAGE_SELF), procs.cpu_s(fake)
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = {
        "backfill": mine.ru_utime + mine.ru_stime,
        "classifier": ended.ru_utime + ended.ru_stime,
        "fake_api": children,
    }
    if postmaster is not None:
        used["postgres"] = procs.cpu_s(postmaster, reaped=True) + sum(
            procs.cpu_s(pid) for pid in procs.children(postmaster)
        )
    return used


def _backends_gone(database_url: str, postmaster: int | None, timeout: float = 5.0) -> None:
    """Wait until the run's backends have ended and Postgres has reaped them, so that
    their CPU is in the postmaster's count of its ended children."""
    deadline = time.monotonic() + timeout
    others = "SELECT count(*) FROM pg_stat_activity"
    others += " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with connect(database_url, autocommit=True) as conn:
        while (row := conn.execute(others).fetchone()) and row[0] and time.monotonic() < deadline:
            time.sleep(0.02)
    while postmaster and time.monotonic() < deadline:
        if not any(procs.stat(pid)[:1] == ["Z"] for pid in procs.children(postmaster)):
            return
        time.sleep(0.02)


def main() -> None:
    server = os.environ.get("DATABASE_URL") or db.SERVER_URL
    url = db.create(server)
    try:
        n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
        print(json.dumps(run(url, n)))
    finally:
        db.drop(url, server)


if __name__ == "__main__":
    main()
