"""GET /metrics: every process's counters (see worker.metrics) plus the inbox lag."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, Final, LiteralString

import psycopg
import psycopg_pool
from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from webhooks.runtime import runtime
from worker import metrics

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

# One index-only pass over the partial index on pending rows: cheap whatever the backlog.
INBOX_LAG: Final[LiteralString] = """
SELECT count(*), coalesce(extract(epoch FROM now() - min(received_at)), 0)
FROM clerk.webhook_events
WHERE status = 'pending'
"""

# Served by the partial index of migration 0006: cheap however many events were applied.
INBOX_UNSETTLED: Final[LiteralString] = """
SELECT count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'dead')
FROM clerk.webhook_events
WHERE status IN ('failed', 'dead')
"""

LAST_BACKFILL: Final[LiteralString] = """
SELECT status, extract(epoch FROM coalesce(finished_at, started_at))
FROM clerk.sync_runs
ORDER BY id DESC
LIMIT 1
"""
BACKFILL_STATUSES = ("running", "succeeded", "failed", "interrupted")


class InboxCollector(Collector):
    """Pending events and the age of the oldest, read from Postgres at scrape time."""

    def __init__(self, pool: psycopg_pool.ConnectionPool) -> None:
        self.pool = pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "clerk_mirror_inbox_up", "1 when the inbox gauges could be read from Postgres."
        )
        try:
            with self.pool.connection(timeout=1.0) as conn:
                row = conn.execute(INBOX_LAG).fetchone()
                unsettled = conn.execute(INBOX_UNSETTLED).fetchone() or (0, 0)
                backfill = conn.execute(LAST_BACKFILL).fetchone()
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            log.warning("inbox gauges unavailable", extra={"error": type(exc).__name__})
            up.add_metric([], 0)
            yield up
            return
        pending, oldest_s = row if row else (0, 0)
        up.add_metric([], 1)
        yield up
        events = GaugeMetricFamily(
            "clerk_mirror_inbox_events",
            "Inbox events that need an operator, by status (failed, dead).",
            labels=["status"],
        )
        events.add_metric(["failed"], unsettled[0])
        events.add_metric(["dead"], unsettled[1])
        yield events
        yield from backfill_gauges(backfill)
        yield GaugeMetricFamily(
            "clerk_mirror_inbox_pending", "Inbox events waiting to be applied.", value=pending
        )
        yield GaugeMetricFamily(
            "clerk_mirror_inbox_oldest_pending_age_seconds",
            "Age of the oldest pending inbox event (the mirror's lag); 0 when none waits.",
            value=float(oldest_s),
        )


def backfill_gauges(row: tuple[Any, ...] | None) -> Iterator[GaugeMetricFamily]:
    """The newest backfill run: 1 on its status (none before the first run), and its time."""
    last = GaugeMetricFamily(
        "clerk_mirror_backfill_last_run",
        "1 for the status of the newest backfill run, 0 for the other statuses.",
        labels=["status"],
    )
    for status in BACKFILL_STATUSES:
        last.add_metric([status], 1 if row and row[0] == status else 0)
    yield last
    if row is not None:
        yield GaugeMetricFamily(
            "clerk_mirror_backfill_last_run_timestamp_seconds",
            "When the newest backfill run finished (or started, while it runs).",
            value=float(row[1]),
        )


class ReadinessCollector(Collector):
    """What /readyz answers, as gauges: 1 when the dependency answers, else 0."""

    def __init__(self, checks: dict[str, Callable[[], str | None]]) -> None:
        self.checks = checks

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ready = GaugeMetricFamily(
            "clerk_mirror_dependency_up",
            "1 when the web process reaches the dependency (what /readyz checks), else 0.",
            labels=["dependency"],
        )
        for name, check in self.checks.items():
            ready.add_metric([name], 0 if check() else 1)
        yield ready


@bp.get("/metrics")
def scrape() -> Response:
    registry = CollectorRegistry()
    metrics.SharedFilesCollector(registry, path=str(metrics.MULTIPROC_DIR))  # type: ignore[no-untyped-call]
    registry.register(InboxCollector(runtime().pool))
    registry.register(
        ReadinessCollector({"postgres": runtime().database_ready, "redis": runtime().broker_ready})
    )
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
