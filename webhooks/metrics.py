"""GET /metrics: every process's counters (see worker.metrics) plus the inbox lag.

The inbox and the backfill runs are read through their rooms (worker.inbox.ops,
worker.backfill.sync_runs), the same reads as `clerk-mirror status` and the console.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import psycopg
import psycopg_pool
from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from webhooks.runtime import runtime
from worker import metrics
from worker.backfill import sync_runs
from worker.inbox import ops
from worker.sms import watch

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

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
                # The open statuses only: what the partial indexes serve at every scrape.
                status = ops.inbox_status(conn, closed=False)
                backfill = sync_runs.latest(conn)
                sms_hour = watch.last_hour(conn)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            log.warning("inbox gauges unavailable", extra={"error": type(exc).__name__})
            up.add_metric([], 0)
            yield up
            return
        age = status.oldest_pending_age
        up.add_metric([], 1)
        yield up
        events = GaugeMetricFamily(
            "clerk_mirror_inbox_events",
            "Inbox events that need an operator, by status (failed, dead).",
            labels=["status"],
        )
        events.add_metric(["failed"], status.counts["failed"])
        events.add_metric(["dead"], status.counts["dead"])
        yield events
        yield from backfill_gauges(backfill)
        yield from sms_gauges(sms_hour)
        yield GaugeMetricFamily(
            "clerk_mirror_inbox_pending",
            "Inbox events waiting to be applied.",
            value=status.counts["pending"],
        )
        yield GaugeMetricFamily(
            "clerk_mirror_inbox_oldest_pending_age_seconds",
            "Age of the oldest pending inbox event (the mirror's lag); 0 when none waits.",
            value=age.total_seconds() if age is not None else 0.0,
        )


def backfill_gauges(run: sync_runs.Latest | None) -> Iterator[GaugeMetricFamily]:
    """The newest backfill run: 1 on its status (none before the first run), and its time."""
    last = GaugeMetricFamily(
        "clerk_mirror_backfill_last_run",
        "1 for the status of the newest backfill run, 0 for the other statuses.",
        labels=["status"],
    )
    for status in BACKFILL_STATUSES:
        last.add_metric([status], 1 if run is not None and run.status == status else 0)
    yield last
    if run is not None:
        yield GaugeMetricFamily(
            "clerk_mirror_backfill_last_run_timestamp_seconds",
            "When the newest backfill run finished (or started, while it runs).",
            value=run.at.timestamp(),
        )


def sms_gauges(hour: list[watch.RegionHour]) -> Iterator[GaugeMetricFamily]:
    """Numbers sent SMS codes in the last hour, and of those the verified, by region: their
    ratio is the conversion that the SMS pumping alert compares with its own past day."""
    sent = GaugeMetricFamily(
        "clerk_mirror_sms_numbers_sent_last_hour",
        "Distinct numbers sent an SMS code in the last hour, by region.",
        labels=["region"],
    )
    verified = GaugeMetricFamily(
        "clerk_mirror_sms_numbers_verified_last_hour",
        "Of the numbers sent an SMS code in the last hour, those verified, by region.",
        labels=["region"],
    )
    for row in hour:
        region = metrics.region_label(row.region)
        sent.add_metric([region], row.numbers_sent_to)
        verified.add_metric([region], row.numbers_verified)
    yield sent
    yield verified


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
    metrics.SharedFilesCollector(registry, path=str(metrics.directory()))  # type: ignore[no-untyped-call]
    registry.register(InboxCollector(runtime().pool))
    registry.register(
        ReadinessCollector({"postgres": runtime().database_ready, "redis": runtime().broker_ready})
    )
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
