"""Redis down while webhooks arrive: accepted anyway, applied once it is back."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.faults.harness import beat_argv, wait_processed
from tests.faults.synth import snapshot
from tests.support.processes import running, wait_for, web_argv, web_ready, worker_argv
from tests.support.signing import TEST_SECRET, sign
from worker.dev import services as devservices

pytestmark = pytest.mark.slow

RETRY = re.compile(rb"Trying again in ([0-9.]+) seconds")


def retries(log: Path) -> list[float]:
    """The waits a worker announced before each new attempt to reach Redis."""
    return [float(s) for s in RETRY.findall(log.read_bytes())]


@dataclass
class Stack:
    """The web, a worker and beat on a Redis of the test's own, which it stops and starts."""

    base: str
    worker: subprocess.Popen[bytes]
    worker_log: Path
    redis: devservices.Service
    redis_dir: Path
    redis_port: int

    def start_redis(self) -> None:
        self.redis = devservices.start_redis(self.redis_dir, port=self.redis_port)


@contextmanager
def stack(database_url: str, queue_name: str, scratch: Path, tmp_path: Path) -> Iterator[Stack]:
    redis_port, port = devservices.free_port(), devservices.free_port()
    redis = devservices.start_redis(scratch / "redis", port=redis_port)
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_MIRROR_QUEUE": queue_name,
        "CLERK_MIRROR_SWEEP_INTERVAL": "1",
        "CLERK_MIRROR_SWEEP_GRACE": "1",
    }
    base, worker_log = f"http://127.0.0.1:{port}", tmp_path / "worker.log"
    services: Stack | None = None
    try:
        with (
            running(web_argv(port), env, tmp_path / "web.log"),
            running(worker_argv(queue_name), env, worker_log) as worker,
            running(beat_argv(tmp_path / "beat-schedule"), env, tmp_path / "beat.log"),
        ):
            services = Stack(base, worker, worker_log, redis, scratch / "redis", redis_port)
            wait_for(web_ready(base), 20, "web")
            yield services
    finally:
        (services.redis if services else redis).stop()


def post(base: str, user: int, version: int) -> httpx.Response:
    svix_id, body = snapshot(user, version)
    raw = json.dumps(body).encode()
    return httpx.post(f"{base}/webhooks/clerk", content=raw, headers=sign(raw, svix_id), timeout=10)


def test_webhooks_are_accepted_while_redis_is_down_and_applied_after_it_returns(
    database_url: str, queue_name: str, scratch: Path, tmp_path: Path
) -> None:
    with stack(database_url, queue_name, scratch, tmp_path) as services:
        base, worker_log = services.base, services.worker_log
        assert [post(base, u, 0).status_code for u in range(5)] == [200] * 5
        wait_processed(database_url, 5, 30)

        services.redis.stop()
        assert not devservices.redis_answers(services.redis.url)
        during = [post(base, u, 1).status_code for u in range(20)]
        # Down long enough that kombu's own schedule would wait 8 s before its next try.
        wait_for(lambda: len(retries(worker_log)) >= 4, 60, "the worker's 4th retry")
        ready = httpx.get(f"{base}/readyz", timeout=10)
        with psycopg.connect(database_url) as conn:
            pending = conn.execute(
                "SELECT count(*) FROM clerk.webhook_events WHERE status = 'pending'"
            ).fetchone()

        services.start_redis()
        back = time.monotonic()
        wait_processed(database_url, 25, 45)
        print(f"applied {time.monotonic() - back:.1f} s after Redis returned")
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    assert during == [200] * 20
    assert ready.status_code == 503
    assert "redis" in ready.json()["failed"]
    assert pending == (20,)
    # Tried again every second or two, so back within moments of Redis.
    assert max(retries(worker_log)) <= 2.0


def test_a_worker_that_loses_redis_mid_task_stays_up_and_applies_what_comes_after(
    database_url: str, queue_name: str, scratch: Path, tmp_path: Path
) -> None:
    # A drain held mid-batch (its user's row locked here) when Redis stops: the worker's
    # consumer closes a connection with that task's message unacknowledged, and must go on
    # trying Redis, not die closing it.
    user_id = snapshot(0, 0)[1]["data"]["id"]
    with (
        stack(database_url, queue_name, scratch, tmp_path) as services,
        psycopg.connect(database_url) as holder,
    ):
        base, worker, worker_log = services.base, services.worker, services.worker_log
        assert post(base, 0, 0).status_code == 200
        wait_processed(database_url, 1, 30)

        holder.execute("SELECT 1 FROM clerk.users WHERE id = %s FOR UPDATE", [user_id])
        assert post(base, 0, 1).status_code == 200
        wait_for(lambda: lock_waits(database_url) > 0, 30, "a drain waiting on the user")

        services.redis.stop()
        wait_for(lambda: len(retries(worker_log)) >= 2, 60, "the worker's 2nd retry")
        assert worker.poll() is None, worker_log.read_text()[-3000:]
        holder.rollback()  # the held batch commits; its message stays unacknowledged

        services.start_redis()
        assert post(base, 0, 2).status_code == 200
        wait_processed(database_url, 3, 45)
        assert worker.poll() is None
    assert b"Unrecoverable error" not in worker_log.read_bytes()


def lock_waits(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0
