"""Nothing leaked: no process logs a number or a secret, and an erased number is gone."""

from __future__ import annotations

import json
import re
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.sql.test_reporting_role import login_in
from tests.support.bodies import FIXTURES, STORY, fixture_body
from tests.support.processes import free_port, running, wait_for, web_argv, web_ready, worker_argv
from tests.support.signing import TEST_SECRET, sign
from tests.worker.privacy.helpers import traces, with_and_without_plus
from worker.cli.report import REPORTS, run_report

ROOT = Path(__file__).parent.parent
# Celery's signal handler writes this with os.write, outside logging: the only non-JSON line.
CELERY_SHUTDOWN = re.compile(r"worker: (Warm|Cold) shutdown \(MainProcess\)")
CLERK_SECRET_KEY = "sk_test_" + "PrivacyCanary0123456789abcdef"

# Every report runs: the per-user ones for this user of the fixtures.
ADA_ID = "user_2pAdaExample0000000000001"


def fixture_phone_numbers() -> set[str]:
    numbers: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "phone_number" and isinstance(value, str):
                    numbers.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in FIXTURES.rglob("*.json"):
        walk(json.loads(path.read_text()))
    return numbers


def post(base: str, body: bytes, headers: dict[str, str]) -> int:
    return httpx.post(f"{base}/webhooks/clerk", content=body, headers=headers).status_code


def send_everything(base: str) -> list[str]:
    """The fixture story, a failed event and rejected requests; the svix ids accepted."""
    accepted = []
    for i, name in enumerate(STORY):
        body = json.dumps(fixture_body(name)).encode()
        assert post(base, body, sign(body, f"priv_{i}")) == 200
        accepted.append(f"priv_{i}")
    broken = fixture_body("user.updated__2fa_enabled")
    broken["data"]["id"] = "user_privacy_broken"
    broken["data"]["phone_numbers"][0]["verification"] = "+12025550143"
    body = json.dumps(broken).encode()
    assert post(base, body, sign(body, "priv_failed")) == 200
    accepted.append("priv_failed")
    tampered = json.dumps(fixture_body(STORY[1])).encode()
    forged = sign(tampered.replace(b"+1", b"+4"), "priv_forged")
    assert post(base, tampered, forged) == 401
    assert post(base, b"+12025550143 is not json", sign(b"+12025550143 is not json", "nj")) == 400
    return accepted


def inbox_settled(database_url: str) -> bool:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FROM clerk.webhook_events"
        ).fetchone()
    return row == (0, len(STORY) + 1)


@pytest.mark.slow
def test_pipeline_logs_are_json_lines_naming_svix_ids_without_numbers_or_secrets(
    database_url: str, redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_SECRET_KEY": CLERK_SECRET_KEY,
        "CLERK_MIRROR_QUEUE": queue_name,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    web = web_argv(port)
    web[3:3] = ["--config", str(ROOT / "gunicorn.conf.py")]
    # --quiet: no startup banner, which celery prints as plain text outside logging.
    worker = [sys.executable, "-m", "celery", "--quiet", *worker_argv(queue_name)[3:]]
    with (
        running(web, env, tmp_path / "web.log"),
        running(worker, env, tmp_path / "worker.log"),
    ):
        wait_for(web_ready(base), 20, "web")
        accepted = send_everything(base)
        wait_for(lambda: inbox_settled(database_url), 30, "the worker applying all events")
        scraped = httpx.get(f"{base}/metrics").text
    with psycopg.connect(database_url) as conn:
        failed = conn.execute(
            "SELECT status, last_error FROM clerk.webhook_events WHERE svix_id = 'priv_failed'"
        ).fetchone()
    assert failed is not None
    assert failed[0] == "failed"
    assert 'clerk_mirror_events_applied_total{outcome="processed"} 6.0' in scraped
    assert 'clerk_mirror_events_applied_total{outcome="failed"} 1.0' in scraped

    text = {name: (tmp_path / name).read_text() for name in ("web.log", "worker.log")}
    raw = [line for log in text.values() for line in log.splitlines() if line.strip()]
    entries = [json.loads(line) for line in raw if not CELERY_SHUTDOWN.fullmatch(line)]
    assert len(entries) >= len(raw) - 1
    assert all({"timestamp", "level", "logger", "message"} <= set(e) for e in entries)
    everything = "\n".join(text.values())
    forbidden = {TEST_SECRET, TEST_SECRET.removeprefix("whsec_"), CLERK_SECRET_KEY}
    forbidden |= {n for number in fixture_phone_numbers() for n in (number, number[1:])}
    assert len(forbidden) > 6
    assert [secret for secret in forbidden if secret in everything] == []
    web_entries = [json.loads(line) for line in text["web.log"].splitlines()]
    # No access log: the inbox records every request that counts.
    assert [e for e in web_entries if e["logger"] == "gunicorn.access"] == []
    # Refusals name their svix_id; the inbox writer names each commit's svix_ids.
    web_ids = {e.get("svix_id") for e in web_entries}
    web_ids |= {i for e in web_entries for i in e.get("svix_ids", []) + e.get("duplicates", [])}
    assert set(accepted) | {"priv_forged", "nj"} <= web_ids
    worker_ids = {e.get("svix_id") for e in entries if e["logger"].startswith("worker.")}
    batch_ids = {i for e in entries for i in e.get("svix_ids", [])}
    assert "priv_failed" in worker_ids
    assert set(accepted) - {"priv_failed"} <= batch_ids


ADA = "user_2pAdaExample0000000000001"


def nothing_pending(database_url: str, expected: int) -> bool:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FROM clerk.webhook_events"
        ).fetchone()
    return row == (0, expected)


def send_ada_alive(base: str) -> int:
    """Ada up to the phone removal (alive), the legacy user, a session naming Ada."""
    names = [*STORY[:5], "user.updated__legacy_shape", "session.created__ignored"]
    for i, name in enumerate(names):
        body = json.dumps(fixture_body(name)).encode()
        assert post(base, body, sign(body, f"erase_{i}")) == 200
    return len(names)


@pytest.mark.slow
def test_erased_user_leaves_no_number_in_the_database_or_the_logs_and_reports_still_run(
    database_url: str, redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_MIRROR_QUEUE": queue_name,
        "CLERK_MIRROR_PII_KEY": "end-to-end-key-0123456789abcdef0123",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    web = web_argv(port)
    web[3:3] = ["--config", str(ROOT / "gunicorn.conf.py")]
    worker = [sys.executable, "-m", "celery", "--quiet", *worker_argv(queue_name)[3:]]
    erase_cmd = [str(Path(sys.executable).parent / "clerk-mirror"), "erase", "--user", ADA]
    later = fixture_body("user.updated__phone_removed")
    later["data"]["updated_at"] += 60_000
    later_body = json.dumps(later).encode()
    with (
        running(web, env, tmp_path / "web.log"),
        running(worker, env, tmp_path / "worker.log"),
    ):
        wait_for(web_ready(base), 20, "web")
        sent = send_ada_alive(base)
        wait_for(lambda: nothing_pending(database_url, sent), 30, "the worker applying")
        with psycopg.connect(database_url) as conn:
            assert traces(conn, {"447700900123"})
        with running(erase_cmd, env, tmp_path / "erase.log") as proc:
            assert proc.wait(timeout=60) == 0
        # A later event for her is answered 200, kept without payload, and changes nothing.
        assert post(base, later_body, sign(later_body, "erase_later")) == 200
        wait_for(lambda: nothing_pending(database_url, sent + 1), 30, "the later event")

    numbers = with_and_without_plus({"+12025550143", "+447700900123"})
    with psycopg.connect(database_url) as conn:
        assert traces(conn, numbers) == []
        later_row = conn.execute(
            "SELECT status, payload FROM clerk.webhook_events WHERE svix_id = 'erase_later'"
        ).fetchone()
    assert later_row == ("ignored", None)
    erase_log = (tmp_path / "erase.log").read_text()
    assert erase_log.startswith(f"{ADA}: changed ")
    logs = "\n".join((tmp_path / n).read_text() for n in ("web.log", "worker.log", "erase.log"))
    assert [n for n in numbers if n in logs] == []
    analyst = contextmanager(login_in)(database_url, "clerk_reporting")
    with analyst as url, psycopg.connect(url) as conn:
        for report in REPORTS.values():
            run_report(
                conn,
                report,
                {"as_of": datetime(2025, 1, 1, 0, 3, 30, tzinfo=UTC), "user_id": ADA_ID},
            )
            conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT phone_number FROM clerk.phone_numbers")
