"""clerk-mirror migrate: builds the contract schema from empty, once, whoever runs it."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from tests.support.bodies import fixture_body
from tests.support.databases import create_database, drop_database, with_dbname
from worker import migrate, sqlfiles
from worker.cli.main import main
from worker.mirror import apply

CONTRACT = {
    "users": {
        "id",
        "primary_phone_number_id",
        "two_factor_enabled",
        "totp_enabled",
        "backup_code_enabled",
        "created_at",
        "updated_at",
        "deleted_at",
    },
    "phone_numbers": {
        "id",
        "user_id",
        "phone_number",
        "region_code",
        "reserved_for_second_factor",
        "default_second_factor",
        "is_primary",
        "verification_status",
        "verification_strategy",
        "verification_attempts",
        "verification_expire_at",
        "linked_to",
        "created_at",
        "updated_at",
        "deleted_at",
    },
    "webhook_events": {
        "svix_id",
        "event_type",
        "payload",
        "received_at",
        "status",
        "attempts",
        "last_error",
        "processed_at",
    },
}
HISTORY_EXTRA = {"phone_number_id", "change", "svix_id", "effective_at", "recorded_at"}


@pytest.fixture
def empty_db(services: dict[str, str]) -> Iterator[str]:
    name = create_database(services["postgres"])
    yield with_dbname(services["postgres"], name)
    drop_database(services["postgres"], name)


def columns(url: str, table: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'clerk' AND table_name = %s",
            (table,),
        ).fetchall()
    return {r[0] for r in rows}


def test_migrate_builds_the_contract_schema_from_empty(empty_db: str) -> None:
    applied = migrate.migrate(empty_db)
    assert list(applied.versions) == sorted(p.stem for p in migrate.migrations_dir().glob("*.sql"))
    assert len(applied.objects) == len(sqlfiles.repeatables(sqlfiles.root()))
    for table, expected in CONTRACT.items():
        assert expected <= columns(empty_db, table), table
    history = columns(empty_db, "phone_number_history")
    assert (CONTRACT["phone_numbers"] - {"id"}) | HISTORY_EXTRA <= history


def test_migrate_twice_is_a_no_op(empty_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_db)
    first = CliRunner().invoke(main, ["migrate"])
    second = CliRunner().invoke(main, ["migrate"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("applied 0001_create_clerk_schema")
    assert second.exit_code == 0
    assert second.output.strip() == "schema is up to date"


def test_two_releases_migrating_at_once_apply_each_file_once(empty_db: str) -> None:
    results: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(migrate.migrate(empty_db))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = migrate.migrate(empty_db)  # up to date by now
    assert not everything.versions
    assert not everything.objects
    assert sorted(len(r.versions) for r in results) == [
        0,
        len(sqlfiles.migrations(sqlfiles.root())),
    ]
    assert sorted(len(r.objects) for r in results) == [
        0,
        len(sqlfiles.repeatables(sqlfiles.root())),
    ]


def test_an_edited_migration_is_refused(empty_db: str, tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_a.sql").write_text("CREATE TABLE clerk.a (x int);")
    assert migrate.migrate(empty_db, tmp_path).versions == ("0001_a",)
    (tmp_path / "migrations" / "0001_a.sql").write_text("CREATE TABLE clerk.a (x bigint);")
    with pytest.raises(migrate.MigrationError, match=r"0001_a\.sql changed"):
        migrate.migrate(empty_db, tmp_path)


def test_migrate_without_database_url_says_which_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 2
    assert "DATABASE_URL is not set" in result.output


EXISTING_HISTORY = """
INSERT INTO clerk.phone_number_history
    (phone_number_id, user_id, change, phone_number, region_code, reserved_for_second_factor,
     default_second_factor, is_primary, verification_status, svix_id, effective_at, event_at)
VALUES ('idn_1', 'user_1', 'created', '+12025550161', 'US', false, false, true, 'unverified',
        'msg_1', '2025-01-10 00:00Z', '2025-01-10 00:00Z'),
       ('idn_1', 'user_1', 'updated', '+12025550161', 'US', true, true, true, 'verified',
        'msg_2', '2025-01-10 00:02Z', '2025-01-10 00:02Z');
INSERT INTO clerk.user_history
    (user_id, change, primary_phone_number_id, two_factor_enabled, totp_enabled,
     backup_code_enabled, svix_id, effective_at, event_at)
VALUES ('user_1', 'created', 'idn_1', false, false, false, 'msg_1', '2025-01-10 00:00Z',
        '2025-01-10 00:00Z'),
       ('user_1', 'updated', 'idn_1', true, false, false, 'msg_2', '2025-01-10 00:02Z',
        '2025-01-10 00:02Z')
"""


def _mirrored_before(url: str, tmp_path: Path, stem: str) -> None:
    """Migrate up to (not including) migration `stem` and mirror EXISTING_HISTORY."""
    (tmp_path / "migrations").mkdir()
    for path in sorted(migrate.migrations_dir().glob("*.sql")):
        if path.stem < stem:
            shutil.copy(path, tmp_path / "migrations" / path.name)
    migrate.migrate(url, tmp_path)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(EXISTING_HISTORY)


def test_the_facts_migration_fills_the_facts_of_the_history_already_mirrored(
    empty_db: str, tmp_path: Path
) -> None:
    _mirrored_before(empty_db, tmp_path, "0011")
    assert "0011_report_facts" in migrate.migrate(empty_db).versions
    with psycopg.connect(empty_db) as conn:
        facts = conn.execute(
            "SELECT phone_number_id, seconds_to_verify, outcome, ever_reserved"
            " FROM clerk.phone_facts"
        ).fetchall()
        verify = conn.execute("SELECT * FROM clerk.report_time_to_verify").fetchall()
        adoption = conn.execute(
            "SELECT month, two_factor_users, two_factor_turned_on, phone_users"
            " FROM clerk.report_two_factor_adoption"
        ).fetchall()
    assert facts == [("idn_1", 120.0, "verified", True)]
    assert verify == [(date(2025, 1, 1), "US", 1, Decimal("120.000"), Decimal("120.000"))]
    assert adoption == [(date(2025, 1, 1), 1, 1, 1)]


def test_the_as_of_migration_dates_the_end_of_each_history_row_already_mirrored(
    empty_db: str, tmp_path: Path
) -> None:
    _mirrored_before(empty_db, tmp_path, "0012")
    with psycopg.connect(empty_db, autocommit=True) as conn:
        before = [
            conn.execute(
                "SELECT id, verification_status FROM clerk.phone_numbers_as_of(%s)", (at,)
            ).fetchall()
            for at in ("2025-01-10 00:01Z", "2025-01-10 00:02Z", "2025-01-09 00:00Z")
        ]
    assert "0012_report_shapes_at_scale" in migrate.migrate(empty_db).versions
    with psycopg.connect(empty_db) as conn:
        ends = conn.execute(
            "SELECT svix_id, valid_until FROM clerk.phone_number_history ORDER BY svix_id"
        ).fetchall()
        after = [
            conn.execute(
                "SELECT id, verification_status FROM clerk.phone_numbers_as_of(%s)", (at,)
            ).fetchall()
            for at in ("2025-01-10 00:01Z", "2025-01-10 00:02Z", "2025-01-09 00:00Z")
        ]
    assert [(s, v.isoformat() if v else None) for s, v in ends] == [
        ("msg_1", "2025-01-10T00:02:00+00:00"),
        ("msg_2", None),
    ]
    assert before == [[("idn_1", "unverified")], [("idn_1", "verified")], []]
    assert after == before


def test_the_sms_migration_drops_unused_bodies_and_cuts_stored_sms_to_the_ledgers_fields(
    empty_db: str, tmp_path: Path
) -> None:
    _mirrored_before(empty_db, tmp_path, "0019")
    sms = json.dumps(fixture_body("sms.created__verification_code")).encode()
    session = json.dumps(fixture_body("session.created__ignored")).encode()
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO clerk.webhook_events (svix_id, event_type, payload, status, processed_at)"
            " VALUES ('s1', 'sms.created', %s, 'ignored', now()),"
            " ('s2', 'sms.created', '\\xff'::bytea, 'ignored', now()),"
            " ('s3', 'session.created', %s, 'ignored', now())",
            (sms, session),
        )
    assert "0019_sms_ledger" in migrate.migrate(empty_db).versions
    with psycopg.connect(empty_db) as conn:
        rows = conn.execute(
            "SELECT svix_id, status, user_id, payload IS NULL FROM clerk.webhook_events"
            " ORDER BY svix_id"
        ).fetchall()
        (kept,) = conn.execute(
            "SELECT convert_from(payload, 'UTF8')::jsonb FROM clerk.webhook_events"
            " WHERE svix_id = 's1'"
        ).fetchone() or (None,)
        assert rows == [
            ("s1", "pending", "user_2pAdaExample0000000000001", False),
            ("s2", "ignored", None, True),
            ("s3", "ignored", None, True),
        ]
        assert "message" not in kept["data"]
        assert "data" not in kept["data"]
        assert "482913" not in json.dumps(kept)
        while apply.apply_pending(conn).claimed:
            pass
        assert conn.execute("SELECT id, svix_id FROM clerk.sms_messages").fetchall() == [
            ("sms_2pSmsAdaExample0000000001", "s1")
        ]
