"""What one batch of the worker's apply costs, by its size: statements and milliseconds.

    python -m bench.batch_cost [ROUNDS]

On a fresh database (DATABASE_URL's server, else the local one), users get a first event
applied; then their next events are applied in batches of 1, 10 and 100 events (one event
per user, as a paced load makes them), each size ROUNDS times. Prints, per size, the
median milliseconds of a batch (claim to commit), per event, and the statements it ran.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

import psycopg

from bench import db, payloads
from worker.db import connect
from worker.mirror.apply import apply_pending

SIZES = (1, 10, 100)


class Counter:
    """Counts the statements (execute and COPY) of the connections of this process."""

    def __init__(self) -> None:
        self.count = 0
        self._execute = psycopg.Cursor.execute
        self._copy = psycopg.Cursor.copy

    def __enter__(self) -> Counter:
        counter, execute, copy = self, self._execute, self._copy

        def counted_execute(cur: psycopg.Cursor[Any], *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return execute(cur, *args, **kwargs)

        def counted_copy(cur: psycopg.Cursor[Any], *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return copy(cur, *args, **kwargs)

        psycopg.Cursor.execute = counted_execute  # type: ignore[method-assign,assignment]
        psycopg.Cursor.copy = counted_copy  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        psycopg.Cursor.execute = self._execute  # type: ignore[method-assign]
        psycopg.Cursor.copy = self._copy  # type: ignore[method-assign]


def drain(url: str) -> None:
    with connect(url) as conn:
        while apply_pending(conn, limit=500).claimed:
            conn.commit()
        conn.commit()


def measure(url: str, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for size in SIZES:
        events = payloads.user_history(uuid.uuid4().hex[:6], size * rounds, 2)
        db.load_inbox(url, [e for e in events if e[0].endswith("_0")])
        drain(url)
        db.load_inbox(url, [e for e in events if e[0].endswith("_1")])
        times, statements = [], []
        with connect(url) as conn, Counter() as counter:
            for _ in range(rounds):
                before, started = counter.count, time.perf_counter()
                result = apply_pending(conn, limit=size)
                conn.commit()
                times.append((time.perf_counter() - started) * 1000)
                statements.append(counter.count - before)
                assert result.claimed == size, result
        ms = statistics.median(times)
        out[str(size)] = {
            "batch_ms": round(ms, 2),
            "ms_per_event": round(ms / size, 3),
            "statements": statistics.median(statements),
        }
    return out


def main() -> None:
    server = os.environ.get("DATABASE_URL") or db.SERVER_URL
    url = db.create(server)
    try:
        rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
        print(json.dumps(measure(url, rounds)))
    finally:
        db.drop(url, server)


if __name__ == "__main__":
    main()
