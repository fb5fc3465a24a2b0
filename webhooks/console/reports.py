"""The console's reports: every clerk.report_* view as a table, with a chart where it helps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, LiteralString

import psycopg
from flask import render_template, request

from webhooks.console import charts, masking, queries
from webhooks.console.blueprint import bp, moment
from webhooks.runtime import runtime
from worker.reports import REPORTS


@dataclass(frozen=True, slots=True)
class View:
    name: str
    question: str
    sql: LiteralString


# Every report of worker.reports that takes no parameter is a view the console shows.
VIEWS: Final[tuple[View, ...]] = tuple(
    View(name, report.question, report.sql)
    for name, report in REPORTS.items()
    if not report.parameters
)
AS_OF: Final[LiteralString] = REPORTS["phone_numbers_as_of"].sql


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
    # Masked here, before tables and chart labels are made of them: bodies chose the ids,
    # statuses and strategies.
    return columns, [_masked(columns, row) for row in rows]


def _masked(columns: list[str], row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(masking.cell(c, v) for c, v in zip(columns, row, strict=True))


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
