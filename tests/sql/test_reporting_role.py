"""The clerk_reporting role reads the mirror, writes nothing, and never sees raw payloads."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import LiteralString

import psycopg
import pytest
from psycopg import sql

from tests.support.bodies import STORY
from tests.support.databases import create_database, drop_database
from tests.worker.mirror import helpers
from tests.worker.mirror.helpers import deliver
from worker import migrate
from worker.cli.report import REPORTS, run_report
from worker.privacy import pii

MIRROR_TABLES = ("users", "phone_numbers", "phone_number_history")

# Every report runs: the per-user ones for this user of the fixtures.
ADA_ID = "user_2pAdaExample0000000000001"


@pytest.fixture
def analyst_url(database_url: str) -> Iterator[str]:
    """A throwaway LOGIN role in clerk_reporting, dropped after the test."""
    yield from login_in(database_url, "clerk_reporting")


@pytest.fixture
def pii_reader_url(database_url: str) -> Iterator[str]:
    yield from login_in(database_url, "clerk_pii_reader")


def login_in(database_url: str, group: str) -> Iterator[str]:
    name = f"cpm_analyst_{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(16)
    statement = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            statement.format(sql.Identifier(name), sql.Literal(password), sql.Identifier(group))
        )
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    info.update(user=name, password=password)
    try:
        yield psycopg.conninfo.make_conninfo(**info)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _clerk_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'clerk' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def _denied(url: str, statement: sql.Composable) -> bool:
    with psycopg.connect(url) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            return True
    return False


def test_reporting_login_reads_the_mirror_but_writes_nothing_and_never_sees_payloads(
    database_url: str, analyst_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        deliver(conn, [("user.created__unverified_phone", "m0")])
        tables = _clerk_tables(conn)
    assert {"webhook_events", *MIRROR_TABLES} <= set(tables)

    with psycopg.connect(analyst_url) as conn:
        counts = [
            conn.execute(
                sql.SQL("SELECT count(*) FROM clerk.{}").format(sql.Identifier(t))
            ).fetchone()
            for t in MIRROR_TABLES
        ]
    assert counts == [(1,), (1,), (1,)]

    assert _denied(analyst_url, sql.SQL("SELECT payload FROM clerk.webhook_events"))
    for table in tables:
        name = sql.Identifier("clerk", table)
        for statement in (
            sql.SQL("INSERT INTO {} DEFAULT VALUES").format(name),
            sql.SQL("UPDATE {t} SET {c} = {c}").format(t=name, c=_a_column(database_url, table)),
            sql.SQL("DELETE FROM {}").format(name),
            sql.SQL("TRUNCATE {}").format(name),
        ):
            assert _denied(analyst_url, statement), statement.as_string(None)


def _a_column(url: str, table: str) -> sql.Identifier:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'clerk' AND table_name = %s AND is_identity = 'NO'"
            " ORDER BY ordinal_position LIMIT 1",
            (table,),
        ).fetchone()
    assert row is not None
    return sql.Identifier(row[0])


def test_views_created_after_the_grant_are_readable_by_reporting(
    database_url: str, analyst_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE VIEW clerk.later_view AS SELECT count(*) AS n FROM clerk.users")
    with psycopg.connect(analyst_url) as conn:
        assert conn.execute("SELECT n FROM clerk.later_view").fetchone() == (0,)


def test_migration_succeeds_when_the_role_already_exists_from_another_database(
    services: dict[str, str], template_db: str
) -> None:
    # template_db's migrations created clerk_reporting already: the role is cluster-wide.
    with psycopg.connect(services["postgres"]) as conn:
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'clerk_reporting'")
        assert role.fetchone() == (1,)
    name = create_database(services["postgres"])
    info = psycopg.conninfo.conninfo_to_dict(services["postgres"])
    info["dbname"] = name
    try:
        applied = migrate.migrate(psycopg.conninfo.make_conninfo(**info))
    finally:
        drop_database(services["postgres"], name)
    assert "0002_reporting_role" in applied.versions


RAW = ("+12025550143", "+447700900123", "+33612345678", "+819012345678")
PII_KEY = "reporting-test-key-0123456789abcdef"


def _mirror_with_numbers(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helpers, "PII_KEY", PII_KEY.encode())
    with psycopg.connect(database_url) as conn:
        deliver(conn, [(name, f"m{i}") for i, name in enumerate(STORY[:5])])
        deliver(conn, [("user.updated__legacy_shape", "m_legacy")])


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT phone_number FROM clerk.phone_numbers",
        "SELECT phone_number FROM clerk.phone_number_history",
        "SELECT * FROM clerk.phone_numbers",
        "SELECT count(DISTINCT phone_number) FROM clerk.phone_number_history",
        "SELECT user_id FROM clerk.erased_users",
        "SELECT phone_number FROM clerk.sms_messages",
        "SELECT * FROM clerk.sms_messages",
    ],
)
def test_reporting_login_is_denied_every_raw_phone_number_and_the_erased_users(
    database_url: str, analyst_url: str, statement: LiteralString
) -> None:
    assert _denied(analyst_url, sql.SQL(statement))


def test_reporting_login_runs_every_report_and_reads_masked_numbers_and_hashes_only(
    database_url: str, analyst_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _mirror_with_numbers(database_url, monkeypatch)
    outputs = []
    with psycopg.connect(analyst_url) as conn:
        for name, report in REPORTS.items():
            columns, rows = run_report(
                conn,
                report,
                {"as_of": datetime(2025, 1, 1, 0, 3, 30, tzinfo=UTC), "user_id": ADA_ID},
            )
            conn.rollback()
            assert "phone_number" not in columns, name
            outputs.append(repr(rows))
        held = conn.execute(
            "SELECT id, phone_number_masked, phone_number_hash FROM clerk.phone_numbers"
            " WHERE deleted_at IS NULL ORDER BY id"
        ).fetchall()
    key = PII_KEY.encode()
    assert held == [
        ("idn_2pPhoneAdaGB00000000002", "+44 ••••••••23", pii.phone_hash(key, "+447700900123")),
        ("idn_2pPhoneLegacy00000000001", "+33 •••••••78", pii.phone_hash(key, "+33612345678")),
        ("idn_2pPhoneLegacy00000000002", "+81 ••••••••78", pii.phone_hash(key, "+819012345678")),
    ]
    as_of = outputs[list(REPORTS).index("phone_numbers_as_of")]
    assert "+1 ••••••••43" in as_of
    assert [n for n in RAW for text in outputs if n in text or n[1:] in text] == []


def test_pii_reader_reads_raw_numbers_and_every_report_but_never_payloads(
    database_url: str, pii_reader_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _mirror_with_numbers(database_url, monkeypatch)
    with psycopg.connect(pii_reader_url) as conn:
        numbers = conn.execute(
            "SELECT phone_number FROM clerk.phone_number_history"
            " UNION SELECT phone_number FROM clerk.phone_numbers ORDER BY 1"
        ).fetchall()
        conn.rollback()
        for report in REPORTS.values():
            run_report(conn, report, {"as_of": datetime(2025, 1, 1, tzinfo=UTC), "user_id": ADA_ID})
            conn.rollback()
    assert [n for (n,) in numbers] == sorted(RAW)
    assert _denied(pii_reader_url, sql.SQL("SELECT payload FROM clerk.webhook_events"))


def test_reporting_reads_user_history_and_the_reports_built_on_it(
    database_url: str, analyst_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        deliver(conn, [("user.created__unverified_phone", "m0")])
    with psycopg.connect(analyst_url) as conn:
        for query in (
            "SELECT count(*) FROM clerk.user_history",
            "SELECT count(*) FROM clerk.report_two_factor_adoption",
            "SELECT count(*) FROM clerk.report_sms_verification_by_region_day",
            "SELECT count(*) FROM clerk.sms_verification_by_region_day(1, 0.5, 3)",
            "SELECT count(*)"
            " FROM clerk.phone_numbers_as_of(now(), 'user_2pAdaExample0000000000001')",
        ):
            assert conn.execute(query).fetchone() == (1,), query


def test_reporting_never_reads_the_console_operators_password_hashes(analyst_url: str) -> None:
    assert _denied(analyst_url, sql.SQL("SELECT password_hash FROM clerk.console_operators"))


def test_reporting_reads_the_sms_ledger_but_its_raw_number_and_the_pii_reader_reads_it(
    database_url: str, analyst_url: str, pii_reader_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helpers, "PII_KEY", PII_KEY.encode())
    with psycopg.connect(database_url) as conn:
        deliver(conn, [("sms.created__verification_code", "m_sms")])
    with psycopg.connect(analyst_url) as conn:
        seen = conn.execute(
            "SELECT id, phone_number_masked, phone_number_hash, region_code, number_type"
            " FROM clerk.sms_messages"
        ).fetchall()
    assert seen == [
        (
            "sms_2pSmsAdaExample0000000001",
            "+44 ••••••••23",
            pii.phone_hash(PII_KEY.encode(), "+447700900123"),
            "GB",
            "unknown",
        )
    ]
    # The prefix beside the masked form would leave two digits to guess.
    for column in ("phone_number", "number_prefix"):
        statement = sql.SQL("SELECT {} FROM clerk.sms_messages").format(sql.Identifier(column))
        assert _denied(analyst_url, statement), column
    with psycopg.connect(pii_reader_url) as conn:
        assert conn.execute(
            "SELECT phone_number, number_prefix FROM clerk.sms_messages"
        ).fetchall() == [("+447700900123", "+44770090")]


def test_the_report_functions_that_run_as_their_owner_are_not_public(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        public = conn.execute(
            "SELECT p.proname FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'clerk' AND p.prosecdef"
            " AND has_function_privilege('public', p.oid, 'EXECUTE') ORDER BY 1"
        ).fetchall()
        definers = conn.execute(
            "SELECT p.proname FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'clerk' AND p.prosecdef ORDER BY 1"
        ).fetchall()
    assert definers == [("shared_phone_numbers",)]
    assert public == []
