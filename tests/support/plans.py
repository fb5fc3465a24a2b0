"""Plans as Postgres gives them in JSON, and their nodes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg


def plan_of(
    conn: psycopg.Connection,
    statement: str,
    params: dict[str, Any] | None = None,
    *,
    analyze: bool = True,
) -> Any:
    """The plan the statement ran with (rolled back: it may write), or would run with."""
    explain = "EXPLAIN (ANALYZE, FORMAT JSON) " if analyze else "EXPLAIN (FORMAT JSON) "
    with conn.transaction(force_rollback=True):
        row = conn.execute(explain + statement, params).fetchone()
    assert row is not None
    return row[0][0]["Plan"]


def nodes(plan: Any) -> Iterator[Any]:
    """Every node of a plan, the top one first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)
