"""clerk-mirror report: every format reads back to exactly the rows of the view it prints."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, LiteralString

import psycopg
import pytest
from click.testing import CliRunner, Result

from tests.support.bodies import STORY
from tests.support.crafted import apply, moment, phone, snapshot
from tests.worker.mirror.helpers import deliver
from worker.cli.main import main
from worker.cli.report import REPORTS

AS_OF = datetime(2025, 1, 1, 0, 3, 30, tzinfo=UTC)
STORY_USER = "user_2pAdaExample0000000000001"
SOURCES: dict[str, LiteralString] = {
    "verification_status": "SELECT * FROM clerk.report_verification_status",
    "two_factor": "SELECT * FROM clerk.report_two_factor",
    "phone_regions": "SELECT * FROM clerk.report_phone_regions",
    "integrity": "SELECT * FROM clerk.report_integrity",
    "sync_health": "SELECT * FROM clerk.report_sync_health",
    "time_to_verify": "SELECT * FROM clerk.report_time_to_verify",
    "shared_phone_numbers": "SELECT * FROM clerk.report_shared_phone_numbers",
    "phone_numbers_as_of": "SELECT * FROM clerk.phone_numbers_as_of(%(at)s) ORDER BY id",
    "user_phone_numbers_as_of": (
        "SELECT * FROM clerk.phone_numbers_as_of(%(at)s, %(user)s) ORDER BY id"
    ),
    "two_factor_adoption": "SELECT * FROM clerk.report_two_factor_adoption",
    "sms_verification_by_region_day": "SELECT * FROM clerk.report_sms_verification_by_region_day",
    "sms_conversion": "SELECT * FROM clerk.report_sms_conversion",
    "sms_pumping": "SELECT * FROM clerk.report_sms_pumping",
    "risky_phone_numbers": "SELECT * FROM clerk.report_risky_phone_numbers",
}


@pytest.fixture
def filled_url(database_url: str) -> str:
    """The fixture story up to the phone removal, the legacy user, and one 2FA anomaly."""
    with psycopg.connect(database_url) as conn:
        deliver(conn, [(name, f"msg_{i}") for i, name in enumerate(STORY[:5])])
        deliver(conn, [("user.updated__legacy_shape", "legacy")])
        lone = phone("idn_lone", "+12025550181")
        apply(conn, snapshot("user_lone", moment(2), [lone], two_factor=True))
        # Another user with the same number: a row in shared_phone_numbers.
        apply(conn, snapshot("user_twin", moment(3), [phone("idn_twin", "+12025550181")]))
        # A code sent by SMS: rows in sms_conversion and sms_pumping (the test numbers of
        # user_lone and user_twin are rows of risky_phone_numbers).
        deliver(conn, [("sms.created__verification_code", "sms")])
    return database_url


def view(url: str, name: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(SOURCES[name], {"at": AS_OF, "user": STORY_USER})
        return [c.name for c in cur.description or ()], cur.fetchall()


def run(url: str | None, *args: str) -> Result:
    env = {"DATABASE_URL": url} if url else {}
    return CliRunner().invoke(main, ["report", *args], env=env)


def args_for(name: str) -> list[str]:
    if name == "user_phone_numbers_as_of":
        return [name, "--as-of", AS_OF.isoformat(), "--user-id", STORY_USER]
    return [name, "--as-of", AS_OF.isoformat()] if name == "phone_numbers_as_of" else [name]


def same_json(value: Any, db: Any) -> bool:
    if isinstance(db, datetime):
        return datetime.fromisoformat(value) == db
    if isinstance(db, date):
        return date.fromisoformat(value) == db
    if isinstance(db, Decimal):
        return type(value) in (int, float) and Decimal(str(value)) == db
    return type(value) is type(db) and value == db


def same_csv(cell: str, db: Any) -> bool:
    if db is None or isinstance(db, bool):
        return cell == {None: "", True: "true", False: "false"}[db]
    if isinstance(db, datetime):
        return datetime.fromisoformat(cell) == db
    if isinstance(db, date):
        return date.fromisoformat(cell) == db
    if isinstance(db, int | Decimal):
        return Decimal(cell) == db
    if isinstance(db, list | dict):
        return bool(json.loads(cell) == db)
    return bool(cell == db)


def test_json_output_reads_back_to_each_report_rows(filled_url: str) -> None:
    for name in REPORTS:
        columns, rows = view(filled_url, name)
        result = run(filled_url, *args_for(name), "--format", "json")
        assert result.exit_code == 0, result.output
        objects = json.loads(result.stdout)
        assert [list(o) for o in objects] == [columns] * len(rows), name
        for obj, row in zip(objects, rows, strict=True):
            assert all(same_json(obj[c], v) for c, v in zip(columns, row, strict=True)), (obj, row)


def test_csv_output_reads_back_to_each_report_rows_under_a_header(filled_url: str) -> None:
    for name in REPORTS:
        columns, rows = view(filled_url, name)
        result = run(filled_url, *args_for(name), "--format", "csv")
        assert result.exit_code == 0, result.output
        header, *cells = list(csv.reader(io.StringIO(result.stdout)))
        assert header == columns, name
        assert len(cells) == len(rows), name
        for line, row in zip(cells, rows, strict=True):
            assert all(same_csv(c, v) for c, v in zip(line, row, strict=True)), (line, row)


def test_reports_with_rows_are_not_empty_on_the_filled_mirror(filled_url: str) -> None:
    # Guards the two tests above against passing vacuously on empty views.
    for name in REPORTS:
        assert view(filled_url, name)[1], name


def test_table_output_aligns_every_row_under_its_header(filled_url: str) -> None:
    result = run(filled_url, "integrity")
    assert result.exit_code == 0, result.output
    *table, count = result.stdout.splitlines()
    assert count == "1 row"
    assert len({len(line) for line in table}) == 1
    for word in ("kind", "detail", "two_factor_without_factor", "user_lone"):
        assert word in "\n".join(table)


def test_report_without_a_name_lists_every_report_with_its_question() -> None:
    result = run(None)
    assert result.exit_code == 0, result.output
    for name, report in REPORTS.items():
        assert name in result.stdout
        assert report.question in result.stdout
    assert "phone_numbers_as_of --as-of TIMESTAMP" in result.stdout
    assert "user_phone_numbers_as_of --as-of TIMESTAMP --user-id USER_ID" in result.stdout


def test_as_of_without_an_offset_is_read_as_utc(filled_url: str) -> None:
    naive = run(
        filled_url, "phone_numbers_as_of", "--as-of", "2025-01-01T00:03:30", "--format", "json"
    )
    aware = run(filled_url, *args_for("phone_numbers_as_of"), "--format", "json")
    assert naive.exit_code == 0, naive.output
    assert naive.stdout == aware.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "no report 'nope'"),
        (["phone_numbers_as_of"], "needs --as-of"),
        (["phone_numbers_as_of", "--as-of", "yesterday"], "not an ISO 8601 time"),
        (["two_factor", "--as-of", "2025-01-01"], "takes no --as-of"),
        (["user_phone_numbers_as_of", "--as-of", "2025-01-01"], "needs --user-id USER_ID"),
        (["phone_numbers_as_of", "--as-of", "2025-01-01", "--user-id", "u"], "takes no --user-id"),
        (["two_factor", "--format", "xml"], "'xml' is not one of"),
    ],
)
def test_bad_arguments_are_refused_with_a_reason(args: list[str], message: str) -> None:
    result = run("postgresql://unused", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_missing_database_url_is_refused_with_how_to_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # away from a checkout where make run left .data/database-url
    result = run(None, "two_factor")
    assert result.exit_code == 2
    assert "DATABASE_URL is not set" in result.output
