"""clerk-mirror report: the reporting views by name, printed as a table, CSV or JSON."""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, LiteralString

import click
import psycopg
from rich.console import Console
from rich.table import Table
from rich.text import Text

from worker import logs
from worker.cli.common import connect, database_url
from worker.reports import REPORTS, Report

# Reports print times in UTC whatever the server's or the analyst's TimeZone is.
SET_UTC: Final[LiteralString] = "SET TIME ZONE 'UTC'"


METAVARS: Final[dict[str, str]] = {"as_of": "TIMESTAMP", "user_id": "USER_ID"}
# A cell that starts with one of these is run as a formula by spreadsheets (OWASP's list;
# tab and carriage return are escaped before this check). A signed number alone, masked
# ones included (+1 ••••••••81), names no function, cell or program: it stays as it is.
FORMULA_STARTS: Final = ("=", "+", "-", "@")
SIGNED_NUMBER: Final = re.compile(r"[+-][0-9 .,•]*")


def run_report(
    conn: psycopg.Connection, report: Report, params: dict[str, Any]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of one report, read in a read-only transaction."""
    conn.read_only = True
    conn.execute(SET_UTC)
    cur = conn.execute(report.sql, params)
    columns = [c.name for c in cur.description or ()]
    return columns, cur.fetchall()


def plain(value: Any) -> Any:
    """A JSON-ready value: ISO 8601 for times, numbers for numerics, seconds for intervals."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        # numeric(…, 4) shares stay fractional (1.0, not 1); whole numerics become ints.
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def text(value: Any) -> str:
    """A cell for CSV and the table: empty for NULL, lower-case booleans, JSON for jsonb."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return logs.escape_json_controls(json.dumps(value, ensure_ascii=False))
    if isinstance(value, Decimal):
        return str(value)  # as Postgres prints it: 1.0000, not 1
    if isinstance(value, str):
        return webhook_string(value)
    return str(plain(value))


def webhook_string(value: str) -> str:
    """A string a webhook may have chosen, as a cell: its control characters escaped (no
    terminal acts on them), and a leading formula character defused with a quote."""
    value = logs.escape_controls(value)
    if value.startswith(FORMULA_STARTS) and not SIGNED_NUMBER.fullmatch(value):
        return "'" + value
    return value


def parse_as_of(raw: str) -> datetime:
    """An ISO 8601 moment; one without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter(f"{raw!r} is not an ISO 8601 time", param_hint="--as-of") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def print_rows(columns: list[str], rows: Sequence[tuple[Any, ...]], fmt: str) -> None:
    if fmt == "json":
        objects = [{c: plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]
        click.echo(logs.escape_json_controls(json.dumps(objects, indent=2, ensure_ascii=False)))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([text(v) for v in row] for row in rows)
    else:
        print_table(columns, rows)
        click.echo(f"{len(rows)} row{'' if len(rows) == 1 else 's'}")


def print_table(columns: list[str], rows: Sequence[tuple[Any, ...]]) -> None:
    table = Table()
    for index, column in enumerate(columns):
        numeric = any(isinstance(row[index], int | float | Decimal) for row in rows)
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        # Text, not markup: a value like [{"type": ...}] must print as it is.
        table.add_row(*(Text(text(v)) for v in row))
    # Never squeeze or wrap cells: an analyst copies these values.
    width = Console(width=100_000).measure(table).maximum
    Console(width=width, highlight=False).print(table)


def report_params(
    name: str, chosen: Report, as_of: str | None, user_id: str | None
) -> dict[str, Any]:
    given = {"as_of": as_of, "user_id": user_id}
    for parameter, value in given.items():
        option = f"--{parameter.replace('_', '-')}"
        if parameter in chosen.parameters and value is None:
            raise click.UsageError(f"{name} needs {option} {METAVARS[parameter]}")
        if parameter not in chosen.parameters and value is not None:
            raise click.UsageError(f"{name} takes no {option}")
    params: dict[str, Any] = {p: given[p] for p in chosen.parameters}
    if as_of is not None:
        params["as_of"] = parse_as_of(as_of)
    return params


def list_reports() -> None:
    for name, report in REPORTS.items():
        options = "".join(f" --{p.replace('_', '-')} {METAVARS[p]}" for p in report.parameters)
        click.echo(f"{name}{options}\n    {report.question}")


@click.command()
@click.argument("name", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Aligned table, CSV with a header row, or a JSON list of objects.",
)
@click.option(
    "--as-of", "as_of", help="ISO 8601 moment for phone_numbers_as_of (UTC if no offset)."
)
@click.option("--user-id", "user_id", help="The Clerk user id, for user_phone_numbers_as_of.")
def report(name: str | None, fmt: str, as_of: str | None, user_id: str | None) -> None:
    """Print a reporting view by NAME; without NAME, list the reports and their questions."""
    if name is None:
        list_reports()
        return
    chosen = REPORTS.get(name)
    if chosen is None:
        raise click.UsageError(f"no report {name!r}; one of: {', '.join(REPORTS)}")
    params = report_params(name, chosen, as_of, user_id)
    with connect(database_url(or_make_runs=True)) as conn:
        columns, rows = run_report(conn, chosen, params)
    print_rows(columns, rows, fmt)
