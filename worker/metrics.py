"""The metric objects the web and the worker share, in prometheus_client multiprocess mode.

Why multiprocess mode: gunicorn runs several web processes and celery several worker
processes; each keeps its own counters, and a scrape hits one web process at random.
With PROMETHEUS_MULTIPROC_DIR every process writes its values to mmap files in that
directory and the web's /metrics sums all of them, the worker's included.

Limits of this choice:
- Web and worker must run on one host and see the same directory. When the variable
  is unset we pick a fixed directory per user and queue under the system temp dir
  (not a random one: the gunicorn and celery processes must agree on it without
  talking). Across hosts, scrape each host's web process; the inbox gauges come from
  Postgres and are right on every host.
- Files of exited processes stay and keep counting in the totals (that is what a
  counter should do); the directory grows by a few files per process ever started, so
  wipe it when deploying, before the processes start.
- The pending count and lag are not here: the web computes them from Postgres at scrape
  time (webhooks/metrics.py), so they are right whichever process applied the events.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path


def default_dir(environ: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if environ is None else environ
    queue = re.sub(r"[^A-Za-z0-9_.-]", "_", env.get("CLERK_MIRROR_QUEUE") or "clerk_mirror")
    return Path(tempfile.gettempdir()) / f"clerk-mirror-metrics-{os.getuid()}-{queue}"


if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(default_dir())
MULTIPROC_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)

# prometheus_client picks its value class when first imported; if anything imported it
# before the variable above was set, pick again so the metrics below are shared.
from prometheus_client import Counter, Histogram, values  # noqa: E402

if not getattr(values.ValueClass, "_multiprocess", False):
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]

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

WEBHOOKS_RECEIVED = Counter(
    "clerk_mirror_webhooks_received",
    "Webhook requests by event type (unknown before the body is trusted) and outcome.",
    ["event_type", "outcome"],
)
EVENTS_APPLIED = Counter(
    "clerk_mirror_events_applied",
    "Inbox events the worker closed or put back, by outcome.",
    ["outcome"],
)
APPLY_DURATION = Histogram(
    "clerk_mirror_apply_duration_seconds",
    "Time a worker took to apply one claimed batch, commit included.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# A signed body names its own type; keep label values to Clerk's shape so a strange
# type cannot mint unbounded time series.
_TYPE_LABEL = re.compile(r"[a-z][a-z_]{0,40}(\.[a-z][a-z_]{0,40}){1,3}")


def type_label(event_type: str | None) -> str:
    if event_type is None:
        return "unknown"
    return event_type if _TYPE_LABEL.fullmatch(event_type) else "other"


def count_webhook(outcome: str, event_type: str | None = None) -> None:
    WEBHOOKS_RECEIVED.labels(type_label(event_type), outcome).inc()


def count_applied(outcome: str, n: int) -> None:
    if n:
        EVENTS_APPLIED.labels(outcome).inc(n)
