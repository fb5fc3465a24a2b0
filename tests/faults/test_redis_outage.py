"""Redis down while webhooks arrive: accepted anyway, applied once it is back."""

from __future__ import annotations

import json
import re
import time
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


def post(base: str, user: int, version: int) -> httpx.Response:
    svix_id, body = snapshot(user, version)
    raw = json.dumps(body).encode()
    return httpx.post(f"{base}/webhooks/clerk", content=raw, headers=sign(raw, svix_id), timeout=10)


def test_webhooks_are_accepted_while_redis_is_down_and_applied_after_it_returns(
    database_url: str, queue_name: str, scratch: Path, tmp_path: Path
) -> None:
    redis_port, port = devservices.free_port(), devservices.free_port()
    redis = devservices.start_redis(scratch / "redis", port=redis_port)
    base = f"http://127.0.0.1:{port}"
    worker_log = tmp_path / "worker.log"
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_MIRROR_QUEUE": queue_name,
        "CLERK_MIRROR_SWEEP_INTERVAL": "1",
        "CLERK_MIRROR_SWEEP_GRACE": "1",
    }
    try:
        with (
            running(web_argv(port), env, tmp_path / "web.log"),
            running(worker_argv(queue_name), env, worker_log),
            running(beat_argv(tmp_path / "beat-schedule"), env, tmp_path / "beat.log"),
        ):
            wait_for(web_ready(base), 20, "web")
            assert [post(base, u, 0).status_code for u in range(5)] == [200] * 5
            wait_processed(database_url, 5, 30)

            redis.stop()
            assert not devservices.redis_answers(redis.url)
            during = [post(base, u, 1).status_code for u in range(20)]
            # Down long enough that kombu's own schedule would wait 8 s before its next try.
            wait_for(lambda: len(retries(worker_log)) >= 4, 60, "the worker's 4th retry")
            ready = httpx.get(f"{base}/readyz", timeout=10)
            with psycopg.connect(database_url) as conn:
                pending = conn.execute(
                    "SELECT count(*) FROM clerk.webhook_events WHERE status = 'pending'"
                ).fetchone()

            redis = devservices.start_redis(scratch / "redis", port=redis_port)
            back = time.monotonic()
            wait_processed(database_url, 25, 45)
            print(f"applied {time.monotonic() - back:.1f} s after Redis returned")
            assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    finally:
        redis.stop()
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
    redis_port, port = devservices.free_port(), devservices.free_port()
    redis = devservices.start_redis(scratch / "redis", port=redis_port)
    base = f"http://127.0.0.1:{port}"
    worker_log = tmp_path / "worker.log"
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_MIRROR_QUEUE": queue_name,
        "CLERK_MIRROR_SWEEP_INTERVAL": "1",
        "CLERK_MIRROR_SWEEP_GRACE": "1",
    }
    user_id = snapshot(0, 0)[1]["data"]["id"]
    try:
        with (
            running(web_argv(port), env, tmp_path / "web.log"),
            running(worker_argv(queue_name), env, worker_log) as worker,
            running(beat_argv(tmp_path / "beat-schedule"), env, tmp_path / "beat.log"),
            psycopg.connect(database_url) as holder,
        ):
            wait_for(web_ready(base), 20, "web")
            assert post(base, 0, 0).status_code == 200
            wait_processed(database_url, 1, 30)

            holder.execute("SELECT 1 FROM clerk.users WHERE id = %s FOR UPDATE", [user_id])
            assert post(base, 0, 1).status_code == 200
            wait_for(lambda: lock_waits(database_url) > 0, 30, "a drain waiting on the user")

            redis.stop()
            wait_for(lambda: len(retries(worker_log)) >= 2, 60, "the worker's 2nd retry")
            assert worker.poll() is None, worker_log.read_text()[-3000:]
            holder.rollback()  # the held batch commits; its message stays unacknowledged

            redis = devservices.start_redis(scratch / "redis", port=redis_port)
            assert post(base, 0, 2).status_code == 200
            wait_processed(database_url, 3, 45)
            assert worker.poll() is None
    finally:
        redis.stop()
    assert b"Unrecoverable error" not in worker_log.read_bytes()


def lock_waits(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0
