"""Inbox: the operator's reads on a small and on a year-sized inbox, and retention under load.

Every read is timed the way its caller runs it (the console's pages and /metrics through
the Flask app, the status command, in process; the report on a connection), the median of
RUNS after one warm-up, first on a `base`-row inbox, then on a `rows`-row one: side by
side, with the ratio. Both get the same traffic (a year's `rows` spread evenly), so the
small inbox is the large one's last hours (10,000 of 10,000,000: 8.8 hours): the ratio is
what a year of history costs a read, not a busier day. Then, on the large inbox, a purge
of 30 days of payloads and a removal of 30 days of rows, each in batches, while the real
worker drains a backlog: its rate next to its rate with nothing else running; then, the
job still running, a paced load through the web and the worker: its 2xx-to-applied
latency next to the same load's with nothing else running. Each job yields to the worker
as the daily task's does (ops.YieldToWorker): it waits while the drain's backlog stands.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from click.testing import CliRunner
from flask.testing import FlaskClient

from bench import db, drain, inbox_data, latency, payloads
from tests.webhooks.console_helpers import console_app, sign_in
from webhooks.console import queries as console_queries
from worker import db as worker_db
from worker.cli.main import main
from worker.inbox import ops

RUNS = 5
RATIO_TARGET, MS_TARGET, THROUGHPUT_TARGET = 5.0, 200.0, 0.8
# The removal keeps 335 days: the oldest 30 of the generated 365 go.
KEEP_DAYS = inbox_data.DAYS - 30
PURGE_AGE = timedelta(days=30)

NEWEST_DEAD = "SELECT svix_id FROM clerk.webhook_events WHERE status = 'dead' LIMIT 1"
SOME_USER = "SELECT user_id FROM clerk.webhook_events WHERE user_id IS NOT NULL LIMIT 1"
ROWS = "SELECT reltuples::bigint FROM pg_class WHERE oid = 'clerk.webhook_events'::regclass"


def timed(call: Callable[[], object]) -> float:
    call()
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def ok(client: FlaskClient, path: str) -> Callable[[], str]:
    def get() -> str:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        return answer.text

    return get


def status(url: str, *args: str) -> Callable[[], str]:
    """The status command in process: its start-up (imports) left out, its connection in."""
    runner = CliRunner()

    def invoke() -> str:
        result = runner.invoke(main, ["status", *args], env={"DATABASE_URL": url})
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def older_link(page: str) -> str:
    marker = 'rel="next" class="older"'
    before = page.split(marker, 1)[0]
    return before.rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")


def reads(url: str, redis_url: str) -> dict[str, float]:
    """Each operator read's median ms on this inbox."""
    app = console_app(url, redis_url)
    client = app.test_client()
    sign_in(client)
    out: dict[str, float] = {}
    try:
        with worker_db.connect(url, autocommit=True) as conn:
            dead = conn.execute(NEWEST_DEAD).fetchone()
            user = conn.execute(SOME_USER).fetchone()
            assert dead is not None, "the generated inbox holds dead events"
            assert user is not None, "the generated inbox holds user events"
            out["clerk-mirror status"] = timed(status(url))
            out["clerk-mirror status --json"] = timed(status(url, "--json"))
            out["report_sync_health"] = timed(
                lambda: conn.execute("SELECT * FROM clerk.report_sync_health").fetchall()
            )
            out["24 h per-minute chart (query)"] = timed(
                lambda: conn.execute(console_queries.PER_MINUTE).fetchall()
            )
        out["console overview"] = timed(ok(client, "/console/"))
        first = ok(client, "/console/events")()
        out["console events, first page"] = timed(ok(client, "/console/events"))
        out["console events, next (older) page"] = timed(ok(client, older_link(first)))
        out["console events ?status=dead"] = timed(ok(client, "/console/events?status=dead"))
        out["console events ?user_id="] = timed(ok(client, f"/console/events?user_id={user[0]}"))
        out["console event page"] = timed(ok(client, f"/console/events/{dead[0]}"))
        out["GET /metrics"] = timed(ok(client, "/metrics"))
        out["GET /readyz"] = timed(ok(client, "/readyz"))
    finally:
        app.extensions["clerk_mirror"].close()
    return out


def sized(server_url: str, redis_url: str, rows: int, days: float) -> tuple[str, dict[str, Any]]:
    """A database holding a generated inbox of `rows` events over `days`, and its reads."""
    url = db.create(server_url)
    started = time.perf_counter()
    index_s = inbox_data.generate(url, rows, days)
    took = time.perf_counter() - started
    print(f"  generated {rows:,} inbox events over {days:g} days in {took:.0f} s", flush=True)
    found = {"rows": rows, "days": days, "generate_s": took, "index_s": index_s}
    return url, {**found, "reads_ms": reads(url, redis_url)}


class Background(threading.Thread):
    """A retention job as the daily task runs it (ops.in_batches), timed batch by batch."""

    def __init__(self, url: str, step: Callable[[psycopg.Connection], int]) -> None:
        super().__init__()
        self.url, self.step = url, step
        self.rows, self.seconds, self.done_at = 0, 0.0, 0.0
        self.longest_batch_s = 0.0
        self.yield_to = ops.YieldToWorker()

    def run(self) -> None:
        started = time.perf_counter()
        with worker_db.connect(self.url, autocommit=True) as conn:

            @contextmanager
            def transaction() -> Iterator[psycopg.Connection]:
                batch_started = time.perf_counter()
                with conn.transaction():
                    yield conn
                took = time.perf_counter() - batch_started
                self.longest_batch_s = max(self.longest_batch_s, took)

            self.rows = ops.in_batches(transaction, self.step, yield_to=self.yield_to)
        self.done_at = time.perf_counter()
        self.seconds = self.done_at - started


def drain_with(
    env: dict[str, str], work: Path, users: int, job: Background | None, paced: tuple[int, int]
) -> dict[str, Any]:
    """The real worker draining a fresh backlog, with `job` started just before it; then
    a paced load (`paced`: events/s, seconds) through web and worker, the job still running."""
    events = payloads.user_history(uuid.uuid4().hex[:6], users, 10)
    result = drain.drain_events(env, work, events, on_ready=job.start if job else None)
    drained_at = time.perf_counter()
    rate, seconds = paced
    load = latency.run(env, work, rate=rate, seconds=seconds)
    paced_at = time.perf_counter()
    result["latency"] = {k: load[k] for k in ("sent", "non_2xx", "applied",
                                              "applied_p50_ms", "applied_p99_ms")}  # fmt: skip
    if job is not None:
        job.join()
        result["job_rows"] = job.rows
        result["job_s"] = job.seconds
        result["job_longest_batch_s"] = job.longest_batch_s
        result["job_yielded_s"] = job.yield_to.waited
        # The worker's rate counts only while the job ran through the whole drain, and
        # its latency only while the job ran through the whole paced load.
        result["job_outlasted_drain"] = job.done_at >= drained_at
        result["job_outlasted_paced"] = job.done_at >= paced_at
    return result


def retention(
    env: dict[str, str], work: Path, users: int, paced: tuple[int, int]
) -> dict[str, Any]:
    """Drains alone and with each job in turns: each job's rate is set against the rounds
    alone on either side of it, so that the machine's other load, which drifts over the
    minutes a purge takes, lands on both."""
    url = env["DATABASE_URL"]
    purge = Background(url, lambda c: ops.purge_batch(c, PURGE_AGE))
    out = {"alone": drain_with(env, work, users, None, paced)}
    out["purge"] = drain_with(env, work, users, purge, paced)
    out["alone_between"] = drain_with(env, work, users, None, paced)
    removal = Background(url, ops.RowRemoval(KEEP_DAYS))
    out["remove"] = drain_with(env, work, users, removal, paced)
    out["alone_again"] = drain_with(env, work, users, None, paced)
    return out


def run(
    server_url: str, env_for: Callable[[str], dict[str, str]], work: Path, size: dict[str, Any]
) -> dict[str, Any]:
    redis_url = env_for(server_url)["REDIS_URL"]
    rows, base_rows, year = size["inbox_rows"], size["inbox_base_rows"], inbox_data.DAYS
    base_url, base = sized(server_url, redis_url, base_rows, year * base_rows / rows)
    db.drop(base_url, server_url)
    url, large = sized(server_url, redis_url, rows, year)
    try:
        paced = (size["inbox_paced_rate"], size["inbox_paced_s"])
        large["retention"] = retention(env_for(url), work, size["inbox_drain_users"], paced)
    finally:
        db.drop(url, server_url)
    return {"base": base, "large": large}
