"""Backfill throughput: N generated users from the fake Backend API into a fresh mirror.

    python -m bench.backfill [N]

creates its own database on DATABASE_URL (or the local Postgres), and drops it after.
The fake API runs as a process of its own, as the real one is elsewhere: in this process
its threads would take turns with the backfill for the interpreter.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import db, procs
from tests.support.processes import free_port, running
from worker.backfill import run as backfill
from worker.backfill.clerk_api import ClerkClient

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
KEY = "sk_test_bench"
SEED = 42


def run(database_url: str, n: int = 5000, work: Path | None = None) -> dict[str, float]:
    """Backfill n users (no client-side rate limit) into a migrated, empty database, from
    the fake API, which answers at once."""
    port = free_port()
    argv = [sys.executable, "-m", "worker.backfill.fake_clerk", "--port", str(port),
            "--users", str(n), "--key", KEY, "--seed", str(SEED)]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="cpm-bench-fake-") as tmp:
        log = (work or Path(tmp)) / "fake-clerk.log"
        with running(argv, {}, log):
            procs.wait_for_line(log, "fake Clerk Backend API on")
            with ClerkClient(f"http://127.0.0.1:{port}/v1", KEY, rate_limit=None) as client:
                started = time.perf_counter()
                summary = backfill.run(database_url, client)
                seconds = time.perf_counter() - started
    assert summary["users_seen"] == n, summary
    return {"users": n, "seconds": round(seconds, 3), "users_per_s": round(n / seconds, 1)}


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
