"""The Celery app (worker and beat): its settings, read once, and a database pool per process.

The entry point of `celery -A worker.app worker` and `... beat`: it reads the settings of
both once, at import, and keeps them on the app (app.settings) for the tasks.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.app.amqp import AMQP
from celery.signals import (
    setup_logging,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)
from kombu.connection import Connection

from worker import config, db, logs, metrics
from worker.task_names import BACKFILL_TASK, ERASE_TASK, PURGE_TASK, SWEEP_TASK

PURGE_EVERY_S = 24 * 3600.0
ERASE_EVERY_S = 3600.0
# How often a worker or beat that lost Redis tries it again: kombu's own schedule backs off
# to 30 s, so a Redis restarted in a moment left the queue idle for up to half a minute.
RECONNECT_EVERY_S = 1.0
RECONNECT_AT_MOST_S = 2.0


class PromptConnection(Connection):
    """A broker connection that, once lost, is tried again every second or two, and that
    a worker can close while it holds a message it has not acknowledged."""

    def ensure_connection(self, *args: Any, **kwargs: Any) -> PromptConnection:
        kwargs.setdefault("interval_start", RECONNECT_EVERY_S)
        kwargs.setdefault("interval_step", RECONNECT_EVERY_S)
        kwargs.setdefault("interval_max", RECONNECT_AT_MOST_S)
        super().ensure_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        return self

    def _do_close_transport(self) -> None:
        # kombu's own also unlinks the transport from this connection's parameters. Channels
        # a worker still uses after losing Redis mid-task (celery's consumer collects the
        # connection, closes it again, and acknowledges the task's message once it ends)
        # then meet no parameters: AttributeError, which kombu lets through as an
        # unrecoverable error, and the worker stops for good. Linked, they reach Redis
        # again, or fail with a connection error that kombu and celery handle.
        self._transport = None


class MirrorAMQP(AMQP):  # type: ignore[misc]
    Connection = PromptConnection


class MirrorCelery(Celery):  # type: ignore[misc]  # celery ships no type information
    """The Celery app, with the settings it was started with for its tasks to read."""

    amqp_cls = MirrorAMQP
    settings: config.Settings


def beat_schedule(settings: config.Settings) -> dict[str, dict[str, Any]]:
    """What beat sends when: the sweep, and purge, erasure and reconciliation when on."""
    sweep_s = settings.sweep_interval_s
    schedule: dict[str, dict[str, Any]] = {
        "sweep-pending": {"task": SWEEP_TASK, "schedule": sweep_s},
    }
    if settings.retention_days or settings.inbox_keep_days is not None:
        schedule["purge-payloads"] = {"task": PURGE_TASK, "schedule": PURGE_EVERY_S}
    if settings.erase_after_days is not None:
        # 0 means at once: as often as the sweep, so within its interval of the deletion.
        every = sweep_s if settings.erase_after_days == 0 else ERASE_EVERY_S
        schedule["erase-deleted"] = {"task": ERASE_TASK, "schedule": every}
    # Periodic reconciliation with Clerk's Backend API: off unless an interval is set.
    if settings.reconcile_interval_s > 0:
        schedule["reconcile-clerk"] = {
            "task": BACKFILL_TASK,
            "schedule": settings.reconcile_interval_s,
            "kwargs": {"reconcile": True},
        }
    return schedule


def celery_settings(settings: config.Settings) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "broker_url": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        # A drain lasts seconds, so a message a killed worker held need not wait an hour
        # (Redis' default) to come back; redelivery is harmless, the sweep covers the rest.
        "broker_transport_options": {
            "socket_timeout": 2,
            "socket_connect_timeout": 2,
            "visibility_timeout": 300,
            # The same schedule for a publisher's reconnection (beat's sweep, the web's nudge).
            "interval_start": RECONNECT_EVERY_S,
            "interval_step": RECONNECT_EVERY_S,
            "interval_max": RECONNECT_AT_MOST_S,
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
        "beat_schedule": beat_schedule(settings),
    }
    if settings.beat_schedule is not None:
        # What `celery beat` opens unless --schedule says otherwise.
        conf["beat_schedule_filename"] = str(settings.beat_schedule)
    return conf


def _start() -> config.Settings:
    """The settings, with the directories they name checked; a bad one stops in one line."""
    try:
        settings = config.from_env(os.environ, config.CELERY)
        metrics.start(config.metrics_dir(settings))
        config.beat_schedule(settings)
    except config.ConfigError as exc:
        raise SystemExit(f"clerk-mirror: {exc}") from None
    return settings


app = MirrorCelery("clerk_mirror", include=["worker.tasks"])
app.settings = _start()
app.conf.update(celery_settings(app.settings))


@setup_logging.connect
def _masked_logs(loglevel: int | str | None = None, **_: object) -> None:
    # Connecting here replaces celery's own log set-up: every line is masked.
    logs.setup_logging(loglevel or "INFO", app.settings.log_format)


# From the first line: the celery command imports this module before it checks
# privileges and warns, long before the setup_logging signal above.
logs.setup_logging(fmt=app.settings.log_format)


@worker_init.connect
def _serve_metrics(**_: object) -> None:
    # In the worker's main process, before the pool starts: one endpoint per worker, which
    # serves every process's files on this host (worker.metrics.serve). Beat never serves.
    if app.settings.metrics_port is not None:
        metrics.serve(app.settings.metrics_port)


@worker_process_init.connect
def _open_pool(**_: object) -> None:
    # After fork: a connection opened in the parent must never be shared with children.
    db.open_pool(app.settings.require_database_url())


@worker_process_shutdown.connect
def _close_pool(**_: object) -> None:
    db.close_pool()
