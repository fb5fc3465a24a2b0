"""Backfill throughput: N generated users from the fake Backend API into a fresh mirror.

    python -m bench.backfill [N]

creates its own database on DATABASE_URL (or the local Postgres), and drops it after.
"""

from __future__ import annotations

import json
import os
import sys
import time

from bench import db
from worker.backfill import run as backfill
from worker.backfill.clerk_api import ClerkClient
from worker.backfill.fake_clerk import FakeClerk
from worker.backfill.fake_users import generate_users

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
KEY = "sk_test_bench"


def run(database_url: str, n: int = 5000) -> dict[str, float]:
    """Backfill n users (no client-side rate limit) into a migrated, empty database, from
    the fake API, which answers at once."""
    with FakeClerk(generate_users(n, seed=42), key=KEY) as fake:
        client = ClerkClient(fake.url, KEY, rate_limit=None)
        with client:
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
