"""clerk-mirror erase, run as an operator answers an erasure request."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner, Result

from tests.support.bodies import STORY
from tests.worker.mirror.helpers import deliver, mirror_state
from worker.cli.main import main

ADA = "user_2pAdaExample0000000000001"
LEGACY = "user_2pLegacyExample000000001"


@pytest.fixture
def filled_url(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    with psycopg.connect(database_url) as conn:
        deliver(conn, [(name, f"msg_{i}") for i, name in enumerate(STORY[:5])])
        deliver(conn, [("user.updated__legacy_shape", "legacy")])
    return database_url


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["erase", *args])


def numbers_left(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT phone_number FROM clerk.phone_number_history WHERE phone_number IS NOT NULL"
            " UNION SELECT phone_number FROM clerk.phone_numbers WHERE phone_number IS NOT NULL"
            " ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_dry_run_prints_the_rows_it_would_change_and_changes_nothing(filled_url: str) -> None:
    with psycopg.connect(filled_url) as conn:
        before = mirror_state(conn)
    dry = run("--user", ADA, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith(f"{ADA}: would change ")
    with psycopg.connect(filled_url) as conn:
        assert mirror_state(conn) == before
        assert conn.execute("SELECT count(*) FROM clerk.erased_users").fetchone() == (0,)
    done = run("--user", ADA)
    assert done.output == dry.output.replace("would change", "changed")
    assert numbers_left(filled_url) == ["+33612345678", "+819012345678"]
    assert run("--user", ADA).output == f"{ADA}: changed 0 rows\n"


def test_erase_by_number_and_by_user_prints_one_line_per_user(filled_url: str) -> None:
    done = run("--phone", "+447700900123", "--user", LEGACY, "--phone", "+15550000000")
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0] == "+1 ••••••••00: no user holds it; forgot 0 row(s) that mention it"
    assert [line.split(":")[0] for line in lines[1:]] == [ADA, LEGACY]
    assert numbers_left(filled_url) == []
    assert "+15550000000" not in done.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name whom to erase: --user USER_ID or --phone +E164"),
        (("--phone", "07700900123"), "is not an E.164 number like +447700900123"),
        (("--user", " "), "a user id cannot be empty"),
    ],
)
def test_a_request_naming_nobody_or_a_malformed_number_fails_in_one_line(
    filled_url: str, args: tuple[str, ...], message: str
) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert "07700900123" not in result.output
