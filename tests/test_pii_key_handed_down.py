"""Every process that writes numbers hashes them under the CLERK_MIRROR_PII_KEY it read at
its start: the worker's drain, `clerk-mirror replay` and the console's Replay."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from tests.support.bodies import STORY
from tests.support.settings import hand_tasks
from tests.support.signing import TEST_SECRET
from tests.webhooks.console_helpers import DEAD_ID, PASSWORD, SECRET, seed, sign_in
from tests.worker.mirror.helpers import put
from webhooks import create_app
from worker import db, tasks
from worker.cli.main import main
from worker.privacy import pii

KEY = "handed-down-key-0123456789abcdef0123"


def hashes(url: str) -> set[tuple[str, str | None]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT phone_number, phone_number_hash FROM clerk.phone_numbers"
            " UNION SELECT phone_number, phone_number_hash FROM clerk.phone_number_history"
        ).fetchall()
    return {(number, digest) for number, digest in rows}


def hashed_under_the_key(url: str) -> bool:
    found = hashes(url)
    return bool(found) and found == {(n, pii.phone_hash(KEY.encode(), n)) for n, _ in found}


def test_the_worker_hashes_under_the_key_of_its_settings(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(database_url) as conn:
        put(conn, STORY[0], "w1")
    hand_tasks(monkeypatch, DATABASE_URL=database_url, CLERK_MIRROR_PII_KEY=KEY)
    db.close_pool()
    try:
        assert tasks.apply_batch().processed == ["w1"]
    finally:
        db.close_pool()
    assert hashed_under_the_key(database_url)


def test_replay_from_the_command_line_hashes_under_the_key_it_read(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(database_url) as conn:
        put(conn, STORY[0], "c1")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CLERK_MIRROR_PII_KEY", KEY)
    done = CliRunner().invoke(main, ["replay", "--svix-id", "c1"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert hashed_under_the_key(database_url)


def test_the_consoles_replay_hashes_under_the_key_the_web_read(
    database_url: str, redis_url: str, queue_name: str
) -> None:
    seed(database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("TRUNCATE clerk.phone_numbers, clerk.phone_number_history, clerk.users")
        conn.execute("UPDATE clerk.webhook_events SET status = 'dead'")
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
            "CLERK_MIRROR_CONSOLE_PASSWORD": PASSWORD,
            "CLERK_MIRROR_CONSOLE_SECRET": SECRET,
            "CLERK_MIRROR_QUEUE": queue_name,
            "CLERK_MIRROR_PII_KEY": KEY,
        }
    )
    try:
        console = app.test_client()
        token = sign_in(console)
        for svix_id in ("msg_a1", "msg_a2", "msg_a3", DEAD_ID):
            answer = console.post(f"/console/events/{svix_id}/replay", data={"csrf_token": token})
            assert answer.status_code == 302
    finally:
        app.extensions["clerk_mirror"].close()
    assert hashed_under_the_key(database_url)
