"""Each view and function is defined once, in its file, and migrate runs the files that changed."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from tests.support.databases import create_database, drop_database, with_dbname
from worker import migrate, sqlfiles
from worker.cli.main import main
from worker.reports import REPORTS

ROOT = sqlfiles.root()
FILES = sqlfiles.repeatables(ROOT)
# From here on a migration neither restates a view's body nor reads one (0001-0012 did).
FIRST_WITHOUT_BODIES = "0013"


@pytest.fixture
def sql_copy(tmp_path: Path) -> Path:
    """A copy of sql/ that a test may edit."""
    shutil.copytree(ROOT, tmp_path / "sql", ignore=shutil.ignore_patterns("schema.sql"))
    return tmp_path / "sql"


@pytest.fixture
def migrated(services: dict[str, str], sql_copy: Path) -> Iterator[str]:
    name = create_database(services["postgres"])
    url = with_dbname(services["postgres"], name)
    migrate.migrate(url, sql_copy)
    yield url
    drop_database(services["postgres"], name)


def recorded(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT path, checksum FROM clerk.schema_repeatables"))


def comment_of(url: str, view: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT obj_description(%s::regclass, 'pg_class')", (view,)).fetchone()
    return row[0] if row else None


def test_a_changed_file_runs_again_alone(migrated: str, sql_copy: Path) -> None:
    path = sql_copy / "reports" / "03_phone_regions.sql"
    path.write_text(path.read_text().replace("Where are", "Where, today, are"))
    before = recorded(migrated)

    done = migrate.migrate(migrated, sql_copy)

    assert done.versions == ()
    assert done.objects == ("reports/03_phone_regions.sql",)
    assert comment_of(migrated, "clerk.report_phone_regions") == (
        "Where, today, are the live phone numbers, and how many of them are verified?"
    )
    after = recorded(migrated)
    assert {p for p in after if after[p] != before[p]} == {"reports/03_phone_regions.sql"}


def test_an_object_dropped_by_hand_is_created_again(migrated: str, sql_copy: Path) -> None:
    with psycopg.connect(migrated, autocommit=True) as conn:
        conn.execute("DROP FUNCTION clerk.phone_numbers_as_of(timestamptz, text)")
    assert migrate.migrate(migrated, sql_copy).objects == (
        "reports/09_user_phone_numbers_as_of.sql",
    )
    with psycopg.connect(migrated) as conn:
        rows = conn.execute("SELECT * FROM clerk.phone_numbers_as_of(now(), 'user_1')")
        assert rows.fetchall() == []


def test_an_analysts_view_survives_a_new_body_with_the_same_columns(
    migrated: str, sql_copy: Path
) -> None:
    with psycopg.connect(migrated, autocommit=True) as conn:
        conn.execute("CREATE VIEW public.my_regions AS SELECT * FROM clerk.report_phone_regions")
    path = sql_copy / "reports" / "03_phone_regions.sql"
    path.write_text(path.read_text().replace("ORDER BY phone_numbers DESC,", "ORDER BY"))
    assert migrate.migrate(migrated, sql_copy).objects == ("reports/03_phone_regions.sql",)
    with psycopg.connect(migrated) as conn:
        assert conn.execute("SELECT count(*) FROM public.my_regions").fetchone() == (0,)


def test_an_analysts_view_on_a_report_its_file_drops_stops_migrate_and_changes_nothing(
    migrated: str, sql_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(migrated, autocommit=True) as conn:
        conn.execute("CREATE VIEW public.my_regions AS SELECT * FROM clerk.report_phone_regions")
    # An earlier file changes too: its change must be rolled back with the rest.
    facts = sql_copy / "views" / "01_phone_facts_of_history.sql"
    facts.write_text(facts.read_text().replace("What does each", "What, today, does each"))
    regions = sql_copy / "reports" / "03_phone_regions.sql"
    text = regions.read_text().replace("CREATE OR REPLACE VIEW", "CREATE VIEW")
    regions.write_text(
        text.replace("\nCREATE VIEW", "\nDROP VIEW clerk.report_phone_regions;\nCREATE VIEW")
    )
    before = recorded(migrated)
    monkeypatch.setenv("DATABASE_URL", migrated)
    monkeypatch.setattr(sqlfiles, "root", lambda: sql_copy)

    result = CliRunner().invoke(main, ["migrate"])

    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith(
        "Error: sql/reports/03_phone_regions.sql: cannot drop view clerk.report_phone_regions"
        " because other objects depend on it (view my_regions depends on view"
        " clerk.report_phone_regions); drop or change those objects first (never CASCADE)"
    ), result.output
    assert recorded(migrated) == before
    assert str(comment_of(migrated, "clerk.phone_facts_of_history")).startswith("What does each")
    with psycopg.connect(migrated) as conn:
        assert conn.execute("SELECT count(*) FROM public.my_regions").fetchone() == (0,)


def test_every_file_opens_with_its_question_and_ends_with_its_grant_and_comment() -> None:
    for path in FILES:
        header = sqlfiles.parse(path, ROOT)  # refuses a header without its sections
        statements = [s.strip() for s in header.definition.split(";\n") if s.strip()]
        last_create = max(i for i, s in enumerate(statements) if s.startswith("CREATE"))
        tail = [s.split()[0] for s in statements[last_create + 1 :]]
        assert tail[0] == "GRANT", header.path
        assert tail[-1] == "COMMENT", header.path
        assert tail == sorted(tail, key=lambda word: word != "GRANT"), header.path
        assert re.match(r"\d\d_", path.name), header.path


def test_every_report_has_its_file_and_every_file_of_reports_a_report() -> None:
    assert list(sqlfiles.reports()) == list(REPORTS)
    for report in REPORTS.values():
        assert report.question == report.header.question
        assert "\n" not in report.question
        assert report.question.endswith("?")


def declared_columns(header: sqlfiles.Header) -> list[str]:
    return [c.strip() for names, _ in header.columns for c in names.split(",")]


def test_each_header_names_the_columns_its_object_has(conn: psycopg.Connection) -> None:
    for report in REPORTS.values():
        params = {"as_of": "2025-01-01T00:00Z", "user_id": "user_1"}
        cur = conn.execute(report.sql, {p: params[p] for p in report.parameters})
        assert [c.name for c in cur.description or ()] == declared_columns(report.header)
    for path in sqlfiles.repeatables(ROOT):
        header = sqlfiles.parse(path, ROOT)
        if path.parent.name == "views":
            view = header.title.split()[0]
            cur = conn.execute(f"SELECT * FROM {view} LIMIT 0")  # noqa: S608  # our file's name
            assert [c.name for c in cur.description or ()] == declared_columns(header)


# Each dependency of a view of ours on another object of ours: its file runs no later.
OUR_DEPENDENCIES = """
SELECT DISTINCT r.ev_class, d.refobjid
FROM pg_depend AS d
JOIN pg_rewrite AS r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
WHERE d.refobjid <> r.ev_class AND d.refobjid = ANY(%(ours)s) AND r.ev_class = ANY(%(ours)s)
"""


def test_the_files_run_in_dependency_order(conn: psycopg.Connection) -> None:
    position: dict[int, int] = {}
    for index, path in enumerate(FILES):
        for kind, name, _ in sqlfiles.parse(path, ROOT).comments:
            cast = "regclass" if kind == "VIEW" else "regprocedure"
            row = conn.execute(f"SELECT %s::{cast}::oid", (name,)).fetchone()  # our cast
            assert row, name
            position[row[0]] = index
    edges = conn.execute(OUR_DEPENDENCIES, {"ours": list(position)}).fetchall()
    assert edges, "report_sms_verification_by_region_day reads its function"
    for dependent, dependency in edges:
        assert position[dependency] <= position[dependent]


def reads_an_object_of_ours(text: str, names: set[str]) -> set[str]:
    return {n for n in names if re.search(rf"\b{re.escape(n)}\b", text)}


def test_no_migration_from_0013_on_restates_or_reads_a_view_or_function_of_the_files() -> None:
    names = {
        name.split("(")[0] for path in FILES for _, name, _ in sqlfiles.parse(path, ROOT).comments
    }
    assert reads_an_object_of_ours("SELECT * FROM clerk.report_integrity", names)
    for path in sqlfiles.migrations(ROOT):
        if path.stem >= FIRST_WITHOUT_BODIES:
            assert not reads_an_object_of_ours(path.read_text(), names), path.name
