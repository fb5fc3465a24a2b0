"""The Celery app: settings from the environment, and a database pool per worker process."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import (
    setup_logging,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)

from worker import config, db, logs, metrics
from worker.task_names import BACKFILL_TASK, ERASE_TASK, PURGE_TASK, SWEEP_TASK

PURGE_EVERY_S = 24 * 3600.0
ERASE_EVERY_S = 3600.0


def retention_days(environ: dict[str, str] | None = None) -> int:
    """CLERK_MIRROR_RETENTION_DAYS: days to keep closed events' payloads; 0 keeps them."""
    raw = (os.environ if environ is None else environ).get("CLERK_MIRROR_RETENTION_DAYS", "30")
    if not raw.strip().isdigit():
        raise config.ConfigError(
            f"CLERK_MIRROR_RETENTION_DAYS should be days (0 = keep), got {raw!r}"
        )
    return int(raw)


def erase_after_days(environ: dict[str, str] | None = None) -> int | None:
    """CLERK_MIRROR_ERASE_DELETED_AFTER_DAYS: erase deleted users after it; None for off."""
    raw = (os.environ if environ is None else environ).get(
        "CLERK_MIRROR_ERASE_DELETED_AFTER_DAYS", "30"
    )
    if raw.strip().lower() == "off":
        return None
    if not raw.strip().isdigit():
        raise config.ConfigError(
            f"CLERK_MIRROR_ERASE_DELETED_AFTER_DAYS should be days, 0 or off, got {raw!r}"
        )
    return int(raw)


def celery_settings(
    settings: config.Settings, environ: dict[str, str] | None = None
) -> dict[str, Any]:
    env = dict(os.environ) if environ is None else environ
    sweep_s = float(env.get("CLERK_MIRROR_SWEEP_INTERVAL", "30"))
    schedule: dict[str, dict[str, Any]] = {
        "sweep-pending": {"task": SWEEP_TASK, "schedule": sweep_s},
    }
    if retention_days(env):
        schedule["purge-payloads"] = {"task": PURGE_TASK, "schedule": PURGE_EVERY_S}
    erase_days = erase_after_days(env)
    if erase_days is not None:
        # 0 means at once: as often as the sweep, so within its interval of the deletion.
        every = sweep_s if erase_days == 0 else ERASE_EVERY_S
        schedule["erase-deleted"] = {"task": ERASE_TASK, "schedule": every}
    # Periodic reconciliation with Clerk's Backend API: off unless an interval is set.
    reconcile_s = float(env.get("CLERK_MIRROR_RECONCILE_INTERVAL") or 0)
    if reconcile_s > 0:
        schedule["reconcile-clerk"] = {
            "task": BACKFILL_TASK,
            "schedule": reconcile_s,
            "kwargs": {"reconcile": True},
        }
    return {
        "broker_url": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        # A drain lasts seconds, so a message a killed worker held need not wait an hour
        # (Redis' default) to come back; redelivery is harmless, the sweep covers the rest.
        "broker_transport_options": {
            "socket_timeout": 2,
            "socket_connect_timeout": 2,
            "visibility_timeout": 300,
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        # Tasks are idempotent (the inbox row is the unit of work), so a message may be
        # delivered again after a crash: ack late, one message at a time.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        "task_default_queue": settings.queue,
        "beat_schedule": schedule,
    }


app = Celery("clerk_mirror", include=["worker.tasks"])
app.conf.update(celery_settings(config.from_env()))


@setup_logging.connect
def _json_logs(loglevel: int | str | None = None, **_: object) -> None:
    # Connecting here replaces celery's own log set-up: every line is masked JSON.
    logs.setup_logging(loglevel or "INFO")


# JSON from the first line: the celery command imports this module before it checks
# privileges and warns, long before the setup_logging signal above.
logs.setup_logging()


@worker_init.connect
def _serve_metrics(**_: object) -> None:
    # In the worker's main process, before the pool starts: one endpoint per worker, which
    # serves every process's files on this host (worker.metrics.serve). Beat never serves.
    port = config.metrics_port()
    if port is not None:
        metrics.serve(port)


@worker_process_init.connect
def _open_pool(**_: object) -> None:
    # After fork: a connection opened in the parent must never be shared with children.
    db.open_pool(config.from_env().require_database_url())


@worker_process_shutdown.connect
def _close_pool(**_: object) -> None:
    db.close_pool()
