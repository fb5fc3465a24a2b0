"""GET /metrics: every process's counters (see worker.metrics) plus the inbox lag."""

from __future__ import annotations

import glob
import logging
import os
import struct
from collections.abc import Iterator
from typing import Any, Final, LiteralString

import psycopg
import psycopg_pool
from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
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
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            log.warning("inbox gauges unavailable", extra={"error": type(exc).__name__})
            up.add_metric([], 0)
            yield up
            return
        pending, oldest_s = row if row else (0, 0)
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "clerk_mirror_inbox_pending", "Inbox events waiting to be applied.", value=pending
        )
        yield GaugeMetricFamily(
            "clerk_mirror_inbox_oldest_pending_age_seconds",
            "Age of the oldest pending inbox event (the mirror's lag); 0 when none waits.",
            value=float(oldest_s),
        )


class SharedFilesCollector(MultiProcessCollector):
    """Every process's metric files, minus any a killed process left half-written.

    A process killed while creating its file (SIGKILL, OOM) leaves it empty or cut short;
    prometheus_client would then fail every scrape until someone wipes the directory.
    """

    def collect(self) -> Any:
        readable = []
        for path in glob.glob(os.path.join(self._path, "*.db")):
            try:
                MmapedDict.read_all_values_from_file(path)  # type: ignore[no-untyped-call]
            except (OSError, ValueError, struct.error):
                log.warning("skipping unreadable metrics file", extra={"path": path})
                continue
            readable.append(path)
        return self.merge(readable, accumulate=True)  # type: ignore[no-untyped-call]


@bp.get("/metrics")
def scrape() -> Response:
    registry = CollectorRegistry()
    SharedFilesCollector(registry, path=str(metrics.MULTIPROC_DIR))  # type: ignore[no-untyped-call]
    registry.register(InboxCollector(runtime().pool))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
