"""The console's overview: lag, failures, throughput, readiness, the last backfill, a chart."""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg
import psycopg_pool
from flask import render_template

from webhooks.console import charts, masking, queries
from webhooks.console.blueprint import bp
from webhooks.runtime import runtime
from worker.backfill import sync_runs
from worker.inbox import ops


def read(conn: psycopg.Connection) -> dict[str, Any]:
    """Everything the overview shows, read in one go."""
    # The open statuses only, from their partial indexes: the page shows no closed counts.
    status = ops.inbox_status(conn, closed=False)
    hour = conn.execute(queries.LAST_HOUR).fetchone() or (0, 0)
    minutes = conn.execute(queries.PER_MINUTE).fetchall()
    backfill = sync_runs.latest(conn)
    age = status.oldest_pending_age
    return {
        "counts": status.counts,
        "oldest_pending_s": age.total_seconds() if age is not None else None,
        "received_last_hour": int(hour[0]),
        "applied_last_hour": int(hour[1]),
        "chart": charts.per_minute(minutes),
        "backfill": _backfill(backfill),
    }


def _backfill(run: sync_runs.Latest | None) -> sync_runs.Latest | None:
    return None if run is None else dataclasses.replace(run, error=masking.text(run.error))


@bp.get("/")
def overview() -> tuple[str, int]:
    ready = {"Postgres": runtime().database_ready(), "Redis": runtime().broker_ready()}
    try:
        with runtime().pool.connection(timeout=2.0) as conn:
            data = read(conn)
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
        page = render_template("console/overview.html", ready=ready, data=None, error=str(exc))
        return page, 503
    return render_template("console/overview.html", ready=ready, data=data, error=None), 200
