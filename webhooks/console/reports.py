"""The console's reports: every clerk.report_* view as a table, with a chart where it helps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, LiteralString

import psycopg
from flask import render_template, request

from webhooks.console import charts, masking, queries
from webhooks.console.blueprint import bp, moment
from webhooks.runtime import runtime


@dataclass(frozen=True, slots=True)
class View:
    name: str
    question: str
    sql: LiteralString


# The questions as README's Reporting states them; a test checks that every
# clerk.report_* view in the database is listed here.
VIEWS: Final[tuple[View, ...]] = (
    View(
        "verification_status",
        "How many live phone numbers are in each verification status and strategy?",
        "SELECT * FROM clerk.report_verification_status",
    ),
    View(
        "phone_regions",
        "Where are the live phone numbers, and how many of them are verified?",
        "SELECT * FROM clerk.report_phone_regions",
    ),
    View(
        "two_factor",
        "How many live users have 2FA on, and what second factors do they hold?",
        "SELECT * FROM clerk.report_two_factor",
    ),
    View(
        "time_to_verify",
        "How long does a number take to get verified, per month (UTC) and region?",
        "SELECT * FROM clerk.report_time_to_verify",
    ),
    View(
        "sync_health",
        "Is the sync keeping up (pending, failed, dead events, oldest pending, last received)?",
        "SELECT * FROM clerk.report_sync_health",
    ),
    View(
        "integrity",
        "Where does the live mirror contradict itself or Clerk's 2FA rules?",
        "SELECT * FROM clerk.report_integrity",
    ),
    View(
        "two_factor_adoption",
        "How did 2FA adoption move, per month (UTC), by second factor?",
        "SELECT * FROM clerk.report_two_factor_adoption",
    ),
    View(
        "sms_verification_by_region_day",
        "Per region and day, how many numbers were added and verified, and is any pumped?",
        "SELECT * FROM clerk.report_sms_verification_by_region_day",
    ),
    View(
        "shared_phone_numbers",
        "Which numbers are held by more than one live user, or taken again after a deletion?",
        "SELECT * FROM clerk.report_shared_phone_numbers",
    ),
)
AS_OF: Final[LiteralString] = "SELECT * FROM clerk.phone_numbers_as_of(%(as_of)s) ORDER BY id"
# Columns whose values are phone numbers: shown masked, whatever the report.
PHONE_COLUMNS = frozenset({"phone_number"})


def read(
    conn: psycopg.Connection, sql: LiteralString, params: dict[str, Any] | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """One report in a read-only transaction, times in UTC."""
    with conn.transaction():
        conn.execute(queries.READ_ONLY)
        conn.execute(queries.UTC)
        cur = conn.execute(sql, params or {})
        columns = [c.name for c in cur.description or ()]
        rows = cur.fetchall()
    return columns, [_masked(columns, row) for row in rows]


def _masked(columns: list[str], row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        masking.phone(v) if c in PHONE_COLUMNS else v for c, v in zip(columns, row, strict=True)
    )


@bp.get("/reports")
def reports() -> str:
    as_of = moment(request.args.get("as_of"))
    shown = []
    with runtime().pool.connection() as conn:
        for view in VIEWS:
            columns, rows = read(conn, view.sql)
            chart = charts.CHARTS.get(view.name)
            shown.append(
                {
                    "view": view,
                    "columns": columns,
                    "rows": rows,
                    "chart": chart(columns, rows) if chart and rows else None,
                }
            )
        as_of_table = read(conn, AS_OF, {"as_of": as_of}) if as_of else None
    return render_template(
        "console/reports.html", reports=shown, as_of=as_of, as_of_table=as_of_table
    )
