"""clerk-mirror replay, status and purge, run as an operator would, on a real database."""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner, Result

from tests.support.bodies import STORY
from tests.worker.mirror.helpers import deliver, put, statuses
from tests.worker.test_retries import bob_event
from worker.cli.main import main
from worker.inbox import ops


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return CliRunner()


def run(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main, list(args), catch_exceptions=False)


def test_replay_dry_run_names_the_events_and_changes_nothing_then_replay_applies_them(
    cli: CliRunner, database_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        for i in range(12):
            body = bob_event()
            body["data"]["updated_at"] += i
            put(conn, body, f"d{i:02}")
        conn.execute("UPDATE clerk.webhook_events SET status = 'dead', last_error = 'boom'")

    dry = run(cli, "replay", "--status", "dead", "--dry-run")
    assert dry.exit_code == 0
    assert "would replay 12 event(s): d00, d01" in dry.output
    assert "d09 ..." in dry.output
    with psycopg.connect(database_url) as conn:
        assert set(statuses(conn).values()) == {"dead"}

    done = run(cli, "replay", "--status", "dead", "--type", "user.created")
    assert done.exit_code == 0
    assert "replayed 12 event(s): 12 processed" in done.output
    with psycopg.connect(database_url) as conn:
        assert set(statuses(conn).values()) == {"processed"}


def test_replay_by_svix_id_applies_only_those(cli: CliRunner, database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        put(conn, STORY[0], "a")
        put(conn, STORY[1], "b")
    result = run(cli, "replay", "--svix-id", "a", "--since", "2000-01-01T00:00:00")
    assert "replayed 1 event(s): 1 processed" in result.output
    with psycopg.connect(database_url) as conn:
        assert statuses(conn) == {"a": "processed", "b": "pending"}


@pytest.mark.parametrize(
    "args",
    [
        ["replay"],
        ["replay", "--since", "yesterday"],
        ["replay", "--status", "lost"],
        ["purge", "--older-than", "1w"],
        ["purge", "--older-than", "999999999d"],
        ["purge", "--older-than", "99999999999h"],
        ["classify", "--chunk", "99999999999999999999"],
    ],
)
def test_commands_refuse_missing_or_malformed_options(cli: CliRunner, args: list[str]) -> None:
    result = run(cli, *args)
    assert result.exit_code == 2, result.output


def test_status_prints_counts_lag_and_last_event_and_json(
    cli: CliRunner, database_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        deliver(conn, [(STORY[0], "a")])
    with psycopg.connect(database_url) as conn:
        put(conn, STORY[1], "b")

    text = run(cli, "status").output
    assert "inbox: 1 pending, 1 processed, 0 ignored, 0 failed, 0 dead" in text
    assert "oldest pending: " in text
    assert "user.updated b (pending)" in text

    document = json.loads(run(cli, "status", "--json").output)
    assert document["counts"] == {
        "pending": 1,
        "processed": 1,
        "ignored": 0,
        "failed": 0,
        "dead": 0,
    }
    assert document["oldest_pending_age_s"] >= 0
    assert document["last_received"]["svix_id"] == "b"


def test_status_of_a_large_inbox_marks_its_closed_counts_as_estimates(
    cli: CliRunner, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO clerk.webhook_events (svix_id, event_type, status, processed_at)"
            " SELECT 'e' || i, 'user.updated', 'processed', now() FROM generate_series(1, 40) i"
        )
        conn.execute("ANALYZE clerk.webhook_events")
    monkeypatch.setattr(ops, "EXACT_PAGES", -1)

    text = run(cli, "status").output
    assert "inbox: 0 pending, ~40 processed, ~0 ignored, 0 failed, 0 dead" in text
    assert "(~: an estimate" in text
    document = json.loads(run(cli, "status", "--json").output)
    assert document["estimated"] == ["processed", "ignored"]
    assert document["counts"]["processed"] == 40


def test_purge_dry_run_counts_then_purge_drops_payloads(cli: CliRunner, database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        deliver(conn, [(STORY[0], "a"), (STORY[1], "b")])
        conn.execute("UPDATE clerk.webhook_events SET processed_at = now() - interval '3 h'")

    assert (
        "would purge the payload of 2 event(s)"
        in run(cli, "purge", "--older-than", "2h", "--dry-run").output
    )
    assert "purged the payload of 0 event(s)" in run(cli, "purge", "--older-than", "1d").output
    assert "purged the payload of 2 event(s)" in run(cli, "purge", "--older-than", "2h").output
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT count(*) FROM clerk.webhook_events WHERE payload IS NOT NULL")
        assert left.fetchone() == (0,)
