"""clerk-mirror when its database or Clerk's API fails: a line or two, a distinct exit code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from tests.support.bodies import STORY, fixture_body
from tests.support.databases import create_database, drop_database, with_dbname
from tests.support.processes import http_server
from tests.worker.mirror.helpers import deliver, put
from worker.cli import common
from worker.cli.main import main

DOWN = "postgresql://postgres@127.0.0.1:1/none"


def run(*args: str) -> Result:
    # catch_exceptions=False: any traceback would fail the test instead of being caught.
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def assert_clean(result: Result, code: int, *words: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["migrate"],
        ["replay", "--status", "dead"],
        ["purge", "--older-than", "1d"],
        ["report", "sync_health"],
    ],
)
def test_commands_name_an_unreachable_database_and_exit_3(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", DOWN)
    assert_clean(run(*args), common.EXIT_DATABASE, "Postgres", "DATABASE_URL")


def test_status_json_prints_an_object_even_when_the_database_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", DOWN)
    result = run("status", "--json")
    assert result.exit_code == common.EXIT_DATABASE
    document = json.loads(result.stdout)
    assert document["exit_code"] == common.EXIT_DATABASE
    assert "Postgres" in document["error"]


def test_a_database_without_the_schema_says_to_migrate(
    services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = create_database(services["postgres"])
    try:
        monkeypatch.setenv("DATABASE_URL", with_dbname(services["postgres"], name))
        assert_clean(run("status"), common.EXIT_DATABASE, "clerk-mirror migrate")
    finally:
        drop_database(services["postgres"], name)


def test_replay_exits_5_when_an_event_fails_again(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    body = fixture_body(STORY[1])
    body["data"]["phone_numbers"][0]["reserved_for_second_factor"] = "not a boolean"
    with psycopg.connect(database_url) as conn:
        put(conn, body, "bad")
        deliver(conn, [(STORY[0], "good")])
    result = run("replay", "--svix-id", "bad", "--svix-id", "good")
    assert "1 processed" in result.stdout
    assert_clean(result, common.EXIT_REPLAY_FAILED, "failed again")


def test_status_and_report_find_make_runs_database_and_say_so(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "database-url").write_text(database_url + "\n")
    monkeypatch.chdir(tmp_path)
    for args in (["status"], ["report", "sync_health"]):
        result = run(*args)
        assert result.exit_code == 0, result.output
        assert "DATABASE_URL is not set: using make run's" in result.stderr


def test_without_database_url_or_make_run_the_command_says_to_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = run("status")
    assert result.exit_code == 2
    assert "DATABASE_URL is not set" in result.stderr


class Answer(BaseHTTPRequestHandler):
    body = b""
    content_type = "text/html"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", self.content_type)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[str]:
    content_type, body = request.param
    handler = type("Fixed", (Answer,), {"body": body, "content_type": content_type})
    with http_server(handler) as port:
        yield f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize(
    ("api", "says"),
    [
        (("text/html", b"<html>Sign in to the proxy</html>"), "not JSON (text/html)"),
        (("application/json", b'{"users": []}'), "unexpected shape (an object with users)"),
    ],
    indirect=["api"],
)
def test_backfill_names_a_non_json_or_unexpected_answer_and_exits_4(
    api: str, says: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CLERK_API_URL", api)
    monkeypatch.setenv("CLERK_SECRET_KEY", "sk_test_fake")
    assert_clean(run("backfill"), common.EXIT_CLERK_API, says, "CLERK_API_URL")
