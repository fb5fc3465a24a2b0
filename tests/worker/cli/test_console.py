"""clerk-mirror console: operators' accounts and the throttle's unlock, failing in one line."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner, Result

from worker.cli.main import main

PASSWORD = "ada's own long password"


@pytest.fixture
def cli(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CLERK_MIRROR_QUEUE", "cpm_test_console_cli")
    return CliRunner()


def run(cli: CliRunner, *args: str, password: str | None = None) -> Result:
    typed = None if password is None else f"{password}\n{password}\n"
    return cli.invoke(main, ["console", *args], input=typed)


def last_line(done: Result) -> str:
    return done.output.strip().splitlines()[-1]


def test_an_operator_is_added_with_an_argon2id_hash_never_the_password(
    cli: CliRunner, database_url: str
) -> None:
    done = run(cli, "add", "Ada@Example.com", password=PASSWORD)
    assert (done.exit_code, last_line(done)) == (0, "added operator ada@example.com")
    assert "ada's" not in done.output  # the prompt echoes nothing it was typed
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT name, password_hash FROM clerk.console_operators").fetchone()
    assert row is not None
    assert row[0] == "ada@example.com"
    assert row[1].startswith("$argon2id$")
    assert PASSWORD not in row[1]
    listed = run(cli, "list")
    assert listed.exit_code == 0
    assert listed.output.startswith("ada@example.com\tadded ")


@pytest.mark.parametrize(
    ("args", "password", "code", "message"),
    [
        (("add", "ada"), "short", 2, "Error: an operator's password has 12 to 1024 characters;"),
        (("add", "no spaces"), PASSWORD, 2, "Error: 'no spaces' is not an operator name"),
        (("set-password", "bob"), PASSWORD, 1, "Error: no operator bob: add them first"),
        (("remove", "bob"), None, 1, "Error: no operator bob"),
        (("unlock",), None, 2, "Error: name one operator, or --shared, or --all"),
        (("unlock", "ada", "--all"), None, 2, "Error: name one operator, or --shared, or --all"),
    ],
)
def test_a_refused_command_says_why_in_one_line(
    cli: CliRunner, args: tuple[str, ...], password: str | None, code: int, message: str
) -> None:
    done = run(cli, *args, password=password)
    assert done.exit_code == code
    assert last_line(done).startswith(message)
    assert "Traceback" not in done.output


def test_adding_an_operator_twice_is_refused_and_changes_nothing(
    cli: CliRunner, database_url: str
) -> None:
    assert run(cli, "add", "ada", password=PASSWORD).exit_code == 0
    again = run(cli, "add", "ada", password="another long password")
    assert (again.exit_code, last_line(again)) == (
        1,
        "Error: operator ada exists: use set-password",
    )
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT generation FROM clerk.console_operators").fetchone()
    assert row == (1,)


def test_set_password_and_remove(cli: CliRunner, database_url: str) -> None:
    assert run(cli, "add", "ada", password=PASSWORD).exit_code == 0
    changed = run(cli, "set-password", "ada", password="a new long password")
    assert last_line(changed) == "set a new password for ada; their sessions have ended"
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT generation FROM clerk.console_operators").fetchone() == (2,)
    assert last_line(run(cli, "remove", "ada")) == "removed operator ada"
    assert last_line(run(cli, "list")).startswith("no operators")


def test_unlock_with_redis_down_fails_in_one_line(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    done = run(cli, "unlock", "--all")
    assert done.exit_code == 6
    assert done.output.startswith("Error: Redis failed: ")
    assert last_line(done) == "check REDIS_URL and that Redis is up"


def test_account_commands_need_database_url(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL")
    done = run(cli, "list")
    assert done.exit_code == 2
    assert "DATABASE_URL is not set" in done.output
