"""Drain: pending inbox events applied by a real Celery worker, against draining no-op tasks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import redis
from celery import Celery
from psycopg import sql

from bench import db, procs
from bench.noop_app import NOOP_TASK
from tests.support.processes import running, worker_argv
from worker.db import connect
from worker.task_names import DRAIN_TASK

PENDING = "SELECT count(*) FROM clerk.webhook_events WHERE status = 'pending'"
TIMEOUT_S = 600.0
NOOP_LIMIT_S = 60.0

# A mirror that already holds n phone numbers (two per user) with a history row each.
# Set-up, not the measured path: generated in the server, then ANALYZE.
PRELOAD = """
INSERT INTO clerk.users (id, primary_phone_number_id, two_factor_enabled, totp_enabled,
    backup_code_enabled, created_at, updated_at, version_ms, version_event_ms, version_svix_id)
SELECT 'user_pre_' || g, 'idn_pre_' || (2 * g), g %% 3 = 0, false, false,
       now() - interval '1 year', now() - interval '1 day', 1, 1, 'pre_' || g
FROM generate_series(1, %(n)s / 2) AS g;
INSERT INTO clerk.phone_numbers (id, user_id, phone_number, region_code,
    reserved_for_second_factor, default_second_factor, is_primary, verification_status,
    verification_strategy, verification_attempts, created_at, updated_at)
SELECT 'idn_pre_' || g, 'user_pre_' || ((g + 1) / 2), '+1202' || lpad(g::text, 7, '0'), 'US',
       false, g %% 2 = 0, g %% 2 = 0, 'verified', 'phone_code', 1,
       now() - interval '1 year', now() - interval '1 day'
FROM generate_series(1, %(n)s) AS g;
INSERT INTO clerk.phone_number_history (phone_number_id, user_id, change, phone_number,
    region_code, reserved_for_second_factor, default_second_factor, is_primary,
    verification_status, verification_strategy, verification_attempts, created_at,
    updated_at, svix_id, effective_at, event_at)
SELECT id, user_id, 'created', phone_number, region_code, reserved_for_second_factor,
       default_second_factor, is_primary, verification_status, verification_strategy,
       verification_attempts, created_at, updated_at, 'pre_' || id, updated_at, updated_at
FROM clerk.phone_numbers
"""


def preload(url: str, phones: int) -> None:
    with connect(url, autocommit=True) as conn:
        with conn.transaction():
            for statement in PRELOAD.split(";"):
                conn.execute(statement, {"n": phones})
        conn.execute("ANALYZE")


def drain_events(
    env: dict[str, str],
    work: Path,
    events: list[tuple[str, bytes]],
    on_ready: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Put events in the inbox, wake the real worker once, time until none is pending.

    on_ready runs once the worker is ready, just before it is woken (what runs beside it)."""
    url, queue = env["DATABASE_URL"], env["CLERK_MIRROR_QUEUE"]
    stored = db.load_inbox(url, events)
    log = work / f"worker-{queue}.log"
    with running(worker_argv(queue), env, log) as proc:
        procs.wait_for_line(log, "ready.")
        rss = procs.RssPeak(proc.pid)
        broker = Celery("bench_client", broker=env["REDIS_URL"])
        if on_ready is not None:
            on_ready()
        start = time.perf_counter()
        broker.send_task(DRAIN_TASK, queue=queue)
        with connect(url, autocommit=True) as conn:
            while (row := conn.execute(PENDING).fetchone()) and row[0] > 0:
                if time.perf_counter() - start > TIMEOUT_S:
                    raise TimeoutError(f"{row[0]} events still pending after {TIMEOUT_S} s")
                rss.sample()
                time.sleep(0.05)
        seconds = time.perf_counter() - start
    return {
        "events": stored,
        "seconds": seconds,
        "per_s": stored / seconds,
        "worker_rss_mb": rss.peak,
    }


def drain_noop(env: dict[str, str], work: Path, count: int) -> dict[str, Any]:
    """Queue `count` no-op tasks, start the same worker setup, time it emptying the queue."""
    queue = env["CLERK_MIRROR_QUEUE"] + "_noop"
    broker = Celery("bench_client", broker=env["REDIS_URL"])
    with broker.producer_or_acquire() as producer:
        for _ in range(count):
            broker.send_task(NOOP_TASK, queue=queue, producer=producer)
    client = redis.Redis.from_url(env["REDIS_URL"])
    log = work / f"worker-{queue}.log"
    try:
        with running(worker_argv(queue, app="bench.noop_app"), env, log):
            while client.llen(queue) >= count:
                time.sleep(0.002)
            start, first = time.perf_counter(), client.llen(queue)
            # A rate: stop at an empty queue, or after NOOP_LIMIT_S on a slow machine.
            while (left := client.llen(queue)) > 0 and time.perf_counter() - start < NOOP_LIMIT_S:
                time.sleep(0.005)
            seconds = time.perf_counter() - start
    finally:
        client.delete(queue)
    done = first - left
    return {"tasks": done, "seconds": seconds, "per_s": done / seconds}


# The tables the drain writes, cloned for the raw-write baseline.
RAW_TABLES = ("users", "phone_numbers", "phone_number_counts", "phone_number_sharing",
              "phone_number_history", "user_history", "phone_facts",
              "user_factor_changes")  # fmt: skip
WRITTEN_COLUMNS = """
SELECT column_name
FROM information_schema.columns
WHERE table_schema = 'clerk' AND table_name = %(table)s
  AND is_generated = 'NEVER' AND is_identity = 'NO'
ORDER BY ordinal_position
"""
MARK_PROCESSED = """
UPDATE raw.webhook_events
SET status = 'processed', processed_at = clock_timestamp(), attempts = attempts + 1
WHERE status = 'pending'
"""


def raw_write(url: str) -> dict[str, Any]:
    """The drain's end state written the cheapest way: the same rows (read back from the
    mirror it drained) by binary COPY into clones of its tables (same indexes, generated
    columns and identities), and its inbox rows, pending in a clone, marked processed: in
    one transaction, timed. What the drain would cost with no fold, no reads, no locks."""
    with connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS raw CASCADE")
        conn.execute("CREATE SCHEMA raw")
        copied: dict[str, tuple[sql.Composable, bytes]] = {}
        for table in (*RAW_TABLES, "webhook_events"):
            names = [r[0] for r in conn.execute(WRITTEN_COLUMNS, {"table": table})]
            columns = sql.SQL(", ").join(map(sql.Identifier, names))
            source, clone = sql.Identifier("clerk", table), sql.Identifier("raw", table)
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(clone, source))
            out = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT BINARY)")
            chunks = bytearray()
            with conn.cursor().copy(out.format(columns, source)) as copy:
                for chunk in copy:
                    chunks += chunk
            copied[table] = (columns, bytes(chunks))
        _copy_in(conn, "webhook_events", *copied.pop("webhook_events"))
        conn.execute("UPDATE raw.webhook_events SET status = 'pending', processed_at = NULL")
        conn.execute("VACUUM ANALYZE raw.webhook_events")
        started = time.perf_counter()
        with conn.transaction():
            for table, (written, data) in copied.items():
                _copy_in(conn, table, written, data)
            marked = conn.execute(MARK_PROCESSED).rowcount
        seconds = time.perf_counter() - started
        rows = marked
        for table in copied:
            count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("raw", table))
            rows += conn.execute(count).fetchone()[0]  # type: ignore[index]
        conn.execute("DROP SCHEMA raw CASCADE")
    return {"rows": rows, "seconds": seconds}


def _copy_in(conn: psycopg.Connection, table: str, columns: sql.Composable, data: bytes) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)")
    with conn.cursor().copy(statement.format(sql.Identifier("raw", table), columns)) as copy:
        copy.write(data)
