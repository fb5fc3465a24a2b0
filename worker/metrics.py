"""The metric objects the web and the worker share, in prometheus_client multiprocess mode.

Why multiprocess mode: gunicorn runs several web processes and celery several worker
processes; each keeps its own counters, and a scrape hits one web process at random.
Every process writes its values to mmap files in one directory (PROMETHEUS_MULTIPROC_DIR,
see worker.config) and the web's /metrics sums all of them, the worker's included.

Each process's entry point calls start() with the directory config checked, before
anything is counted: prometheus_client reads the directory from the environment when it
makes a value, so the metric objects are made only then, not at import.

Limits of this choice:
- Web and worker must run on one host and see the same directory. When the variable is
  unset they agree on one without talking: metrics-$CLERK_MIRROR_QUEUE in the user's own
  state directory. Across hosts, scrape each host on its own: its web process, or on a
  host with no web process, the worker's own endpoint (CLERK_MIRROR_METRICS_PORT, serve()
  below). The inbox gauges come from Postgres and are right on every web host.
- Files of exited processes stay and keep counting in the totals (that is what a
  counter should do); the directory grows by a few files per process ever started, so
  wipe it when deploying, before the processes start.
- The pending count and lag are not here: the web computes them from Postgres at scrape
  time (webhooks/metrics.py), so they are right whichever process applied the events.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server, values
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

from worker import config

log = logging.getLogger(__name__)

WEBHOOK_OUTCOMES = (
    "accepted",
    "duplicate",
    "ignored",
    "rejected_400",
    "rejected_401",
    "rejected_413",
    "unavailable_503",
)
APPLY_OUTCOMES = ("processed", "ignored", "failed", "retrying")


@dataclass(frozen=True, slots=True)
class Shared:
    """The metric objects, made once per process by start()."""

    directory: Path
    webhooks_received: Counter
    events_applied: Counter
    apply_duration: Histogram
    sms_sent: Counter


_shared: Shared | None = None
_lock = threading.Lock()


def start(directory: Path) -> None:
    """Count in `directory` (checked by worker.config.metrics_dir) from now on; once a process."""
    global _shared
    with _lock:
        if _shared is not None:
            if _shared.directory != directory:
                raise RuntimeError(f"this process counts in {_shared.directory}, not {directory}")
            return
        config.tell_prometheus(directory)
        # prometheus_client picked its value class when first imported: pick again now
        # that the directory is known, so that the metrics below are shared.
        if not getattr(values.ValueClass, "_multiprocess", False):
            values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        _shared = Shared(
            directory,
            Counter(
                "clerk_mirror_webhooks_received",
                "Webhook requests by event type (unknown before the body is trusted) and outcome.",
                ["event_type", "outcome"],
            ),
            Counter(
                "clerk_mirror_events_applied",
                "Inbox events the worker closed or put back, by outcome.",
                ["outcome"],
            ),
            Histogram(
                "clerk_mirror_apply_duration_seconds",
                "Time a worker took to apply one claimed batch, commit included.",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            ),
            Counter(
                "clerk_mirror_sms_sent",
                "SMS codes sent (new rows of the SMS ledger), by region of the number.",
                ["region"],
            ),
        )


def shared() -> Shared:
    if _shared is None:
        raise RuntimeError("metrics are not started: the entry point calls worker.metrics.start")
    return _shared


def directory() -> Path:
    return shared().directory


# A signed body names its own type; keep label values to Clerk's shape so a strange
# type cannot mint unbounded time series.
_TYPE_LABEL = re.compile(r"[a-z][a-z_]{0,40}(\.[a-z][a-z_]{0,40}){1,3}")


def type_label(event_type: str | None) -> str:
    if event_type is None:
        return "unknown"
    return event_type if _TYPE_LABEL.fullmatch(event_type) else "other"


def count_webhook(outcome: str, event_type: str | None = None) -> None:
    shared().webhooks_received.labels(type_label(event_type), outcome).inc()


def count_applied(outcome: str, n: int) -> None:
    if n:
        shared().events_applied.labels(outcome).inc(n)


# A region is ISO 3166-1 alpha-2, as phonenumbers names it: at most ~250 series.
_REGION_LABEL = re.compile(r"[A-Z]{2}")


def region_label(region: str | None) -> str:
    return region if region and _REGION_LABEL.fullmatch(region) else "unknown"


def count_sms(regions: list[str]) -> None:
    """One per new ledger row, by the region of its number ('' or None: unknown)."""
    for region in regions:
        shared().sms_sent.labels(region_label(region)).inc()


def observe_apply(seconds: float) -> None:
    shared().apply_duration.observe(seconds)


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


def serve(port: int) -> bool:
    """Serve this host's metric files at http://0.0.0.0:port/metrics, from a daemon thread.

    For worker hosts, which have no web process to scrape. False when the port is taken:
    on a host where several worker processes share one directory, the first one serves
    all of their files, so the others need not.
    """
    registry = CollectorRegistry()
    SharedFilesCollector(registry, path=str(directory()))  # type: ignore[no-untyped-call]
    try:
        start_http_server(port, registry=registry)
    except OSError as exc:
        log.warning("metrics port unavailable", extra={"port": port, "error": str(exc)})
        return False
    log.info("serving this host's metrics", extra={"port": port})
    return True
