"""What one batch of the worker's apply costs, by its size: statements and milliseconds.

    python -m bench.batch_cost [ROUNDS]

On a fresh database (DATABASE_URL's server, else the local one), users get a first event
applied; then their next events are applied in batches of 1, 10 and 100 events (one event
per user, as a paced load makes them), each size ROUNDS times. Each round's events are
put in the inbox just before its batch, which claims with the drain's own limit
(BATCH_USERS): Postgres keeps one plan of the claim for that limit, where it planned the
claim anew at every batch for a limit of 1 or 10. Prints, per size, the median
milliseconds of a batch (claim to commit), per event, the statements it ran and the round
trips they took (a pipeline is one), and the CPU milliseconds a batch cost this process
and its Postgres backend (read from /proc when the server is on this machine): on a
machine others load, CPU time is the steadier measure of the two.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from typing import Any

import psycopg

from bench import db, payloads, procs
from worker.db import connect
from worker.mirror.apply import apply_pending
from worker.tasks import BATCH_USERS

SIZES = (1, 10, 100)


class Counter:
    """Counts the statements (execute and COPY) of the connections of this process, and
    their round trips: a statement outside a pipeline is one, a whole pipeline one."""

    def __init__(self) -> None:
        self.count = 0
        self.trips = 0
        self._execute = psycopg.Cursor.execute
        self._copy = psycopg.Cursor.copy
        self._pipeline = psycopg.Connection.pipeline

    def __enter__(self) -> Counter:
        counter, execute, copy, pipeline = self, self._execute, self._copy, self._pipeline

        def counted_execute(cur: psycopg.Cursor[Any], *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            counter.trips += cur.connection._pipeline is None
            return execute(cur, *args, **kwargs)

        def counted_copy(cur: psycopg.Cursor[Any], *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            counter.trips += 1
            return copy(cur, *args, **kwargs)

        def counted_pipeline(conn: psycopg.Connection[Any]) -> Any:
            counter.trips += conn._pipeline is None
            return pipeline(conn)

        psycopg.Cursor.execute = counted_execute  # type: ignore[method-assign,assignment]
        psycopg.Cursor.copy = counted_copy  # type: ignore[method-assign,assignment]
        psycopg.Connection.pipeline = counted_pipeline  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        psycopg.Cursor.execute = self._execute  # type: ignore[method-assign]
        psycopg.Cursor.copy = self._copy  # type: ignore[method-assign]
        psycopg.Connection.pipeline = self._pipeline  # type: ignore[method-assign]


def cpu_ms(pid: int | None = None) -> float:
    """CPU time (user + system) of this process, or of process pid (0.0 if unreadable)."""
    if pid is None:
        return time.process_time() * 1000
    return procs.run_s(pid) * 1000


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
        second = [e for e in events if e[0].endswith("_1")]
        times, statements, trips = [], [], []
        client_cpu = server_cpu = 0.0
        with connect(url) as conn, Counter() as counter:
            backend = conn.info.backend_pid
            for start in range(0, size * rounds, size):
                db.load_inbox(url, second[start : start + size])
                before, trips_before = counter.count, counter.trips
                client, server = cpu_ms(), cpu_ms(backend)
                started = time.perf_counter()
                result = apply_pending(conn, limit=BATCH_USERS)
                conn.commit()
                times.append((time.perf_counter() - started) * 1000)
                client_cpu += cpu_ms() - client
                server_cpu += cpu_ms(backend) - server
                statements.append(counter.count - before)
                trips.append(counter.trips - trips_before + 1)  # and the commit
                assert result.claimed == size, result
        ms = statistics.median(times)
        out[str(size)] = {
            "batch_ms": round(ms, 2),
            "ms_per_event": round(ms / size, 3),
            "statements": statistics.median(statements),
            "round_trips": statistics.median(trips),
            "client_cpu_ms": round(client_cpu / rounds, 2),
            "server_cpu_ms": round(server_cpu / rounds, 2),
        }
    return out


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    db.print_measured(lambda url: measure(url, rounds))


if __name__ == "__main__":
    main()
