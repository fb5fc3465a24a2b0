"""End to end: signed POSTs to the app under gunicorn, a real Celery worker, the mirror updated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.bodies import STORY, fixture_body
from tests.support.databases import every_database
from tests.support.processes import free_port, running, wait_for, web_argv, web_ready, worker_argv
from tests.support.signing import TEST_SECRET, sign


def all_processed(database_url: str, count: int) -> bool:
    """Whether the inbox holds `count` events, every one of them applied."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'processed'), count(*)"
            " FROM clerk.webhook_events"
        ).fetchone()
    return row == (count, count)


@contextmanager
def web_and_worker(
    database_url: str, redis_url: str, queue_name: str, tmp_path: Path
) -> Iterator[str]:
    """The Procfile's web (gunicorn) and a real worker on this database; yields the web's URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_MIRROR_QUEUE": queue_name,
    }
    with (
        running(web_argv(port), env, tmp_path / "web.log"),
        running(worker_argv(queue_name), env, tmp_path / "worker.log"),
    ):
        wait_for(web_ready(base), 20, "web")
        yield base


def post_signed(base: str, payload: dict[str, Any], svix_id: str) -> None:
    body = json.dumps(payload).encode()
    response = httpx.post(f"{base}/webhooks/clerk", content=body, headers=sign(body, svix_id))
    assert response.status_code == 200, response.text


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    every_database(metafunc)  # on the server's default database and on a far one


@pytest.mark.slow
def test_signed_events_posted_to_gunicorn_reach_the_mirror_through_a_real_worker(
    database_url: str, redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    with web_and_worker(database_url, redis_url, queue_name, tmp_path) as base:
        for i, name in enumerate(STORY[:5]):
            post_signed(base, fixture_body(name), f"m{i}")

        wait_for(lambda: all_processed(database_url, 5), 30, "the worker applying all events")
    with psycopg.connect(database_url) as conn:
        live = conn.execute(
            "SELECT id, verification_status, is_primary FROM clerk.phone_numbers"
            " WHERE deleted_at IS NULL"
        ).fetchall()
        history = conn.execute("SELECT count(*) FROM clerk.phone_number_history").fetchone()
    assert live == [("idn_2pPhoneAdaGB00000000002", "verified", True)]
    assert history == (6,)


@pytest.mark.slow
def test_signed_sms_posted_to_gunicorn_reach_the_ledger_through_a_real_worker(
    database_url: str, redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    """Out of order, twice over, and a sign-up send with no user yet: exact rows, no code."""
    later = fixture_body("sms.created__sign_up_no_user")
    later["timestamp"] += 60_000
    later["data"]["status"] = "sent"
    sends = [
        ("s_later", later),
        ("s_ada", fixture_body("sms.created__verification_code")),
        ("s_signup", fixture_body("sms.created__sign_up_no_user")),
        ("s_ada", fixture_body("sms.created__verification_code")),
    ]
    with web_and_worker(database_url, redis_url, queue_name, tmp_path) as base:
        for svix_id, payload in sends:
            post_signed(base, payload, svix_id)

        wait_for(lambda: all_processed(database_url, 3), 30, "the worker applying all events")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id, user_id, status, phone_number, region_code, svix_id"
            " FROM clerk.sms_messages ORDER BY id"
        ).fetchall()
        codes = conn.execute(
            "SELECT count(*) FROM clerk.webhook_events WHERE position('482913' IN"
            " encode(payload, 'escape')) > 0 OR position('731406' IN encode(payload, 'escape')) > 0"
        ).fetchone()
    assert rows == [
        ("sms_2pSmsAdaExample0000000001", "user_2pAdaExample0000000000001", "queued",
         "+447700900123", "GB", "s_ada"),
        ("sms_2pSmsSignUpExample00000001", None, "queued", "+447781123456", "GG", "s_signup"),
    ]  # fmt: skip
    assert codes == (0,)
