"""Postgres down: the endpoint answers 503 and stores nothing; deliveries succeed once back."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.faults.harness import wait_processed
from tests.faults.synth import snapshot
from tests.support.processes import running, wait_for, web_argv, web_ready, worker_argv
from tests.support.signing import TEST_SECRET, sign
from worker import migrate
from worker.dev import services as devservices

pytestmark = pytest.mark.slow


def post(base: str, user: int) -> httpx.Response:
    svix_id, body = snapshot(user, 0)
    raw = json.dumps(body).encode()
    return httpx.post(f"{base}/webhooks/clerk", content=raw, headers=sign(raw, svix_id), timeout=15)


def inbox_ids(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT svix_id FROM clerk.webhook_events")}


def test_postgres_down_gets_503_and_stores_nothing_then_deliveries_and_resends_succeed(
    redis_url: str, queue_name: str, scratch: Path, tmp_path: Path
) -> None:
    pg_port, port = devservices.free_port(), devservices.free_port()
    postgres = devservices.start_postgres(scratch / "postgres", port=pg_port)
    migrate.migrate(postgres.url)
    base = f"http://127.0.0.1:{port}"
    env = {
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis_url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_MIRROR_QUEUE": queue_name,
    }
    try:
        with (
            running(web_argv(port), env, tmp_path / "web.log"),
            running(worker_argv(queue_name), env, tmp_path / "worker.log"),
        ):
            wait_for(web_ready(base), 20, "web")
            assert post(base, 0).status_code == 200
            wait_processed(postgres.url, 1, 30)

            postgres.stop()
            down = [post(base, u) for u in (1, 2, 3)]
            ready = httpx.get(f"{base}/readyz", timeout=10)

            postgres = devservices.start_postgres(scratch / "postgres", port=pg_port)
            stored_while_down = inbox_ids(postgres.url) - {"fault_000000_00"}
            new = post(base, 4)
            resent = [post(base, u) for u in (1, 2, 3)]
            wait_processed(postgres.url, 5, 45)
    finally:
        postgres.stop()
    assert [r.status_code for r in down] == [503] * 3
    assert all(r.headers["Retry-After"] for r in down)
    assert (ready.status_code, set(ready.json()["failed"])) == (503, {"postgres"})
    assert stored_while_down == set()
    assert new.status_code == 200, new.text
    assert [(r.status_code, r.json()["duplicate"]) for r in resent] == [(200, False)] * 3
