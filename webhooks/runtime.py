"""What a web process holds: verifiers, a database pool, a broker client."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg
import redis
from celery import Celery
from flask import current_app
from psycopg_pool import ConnectionPool, PoolTimeout
from svix.webhooks import Webhook, WebhookVerificationError

from webhooks.notifier import Notifier
from worker import config, db, wakeup
from worker.inbox import insert as inbox
from worker.mirror.events import Envelope
from worker.task_names import DRAIN_TASK

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Stored:
    """What the inbox write found: the event is new, or its svix-id was already there."""

    new: bool
    # The svix-id was there, but this request's own first attempt may have put it there:
    # its commit went through and only the answer was lost. Nobody woke a worker for it.
    maybe_ours: bool = False

    @property
    def needs_wake(self) -> bool:
        return self.new or self.maybe_ours


@dataclass(slots=True)
class Runtime:
    verifiers: tuple[Webhook, ...]
    pool: ConnectionPool
    redis: redis.Redis[bytes]
    celery: Celery
    settings: config.Settings
    notifier: Notifier = field(init=False)

    def __post_init__(self) -> None:
        self.notifier = Notifier(self.wake_worker)

    @classmethod
    def start(cls, settings: config.Settings, *, pool_size: int, pool_timeout: float) -> Runtime:
        try:
            verifiers = tuple(Webhook(secret) for secret in settings.signing_secrets)
        except Exception:
            raise config.ConfigError(
                "CLERK_WEBHOOK_SIGNING_SECRET is not a valid whsec_... secret"
            ) from None
        # The pool connects in the background: the web process starts (and answers 503)
        # while Postgres is down, instead of refusing to boot.
        pool = ConnectionPool(
            db.conninfo(settings.require_database_url()),
            min_size=1,
            max_size=pool_size,
            timeout=pool_timeout,
            kwargs={"autocommit": True, "context": db.ADAPTERS},
            configure=inbox.prepare_webhook_insert,
            open=True,
            name="clerk-mirror-web",
        )
        celery = Celery("clerk_mirror_web", broker=settings.redis_url)
        celery.conf.update(
            broker_transport_options={"socket_timeout": 1, "socket_connect_timeout": 1},
            broker_connection_retry_on_startup=False,
            task_default_queue=settings.queue,
        )
        return cls(
            verifiers,
            pool,
            wakeup.client(settings.redis_url),
            celery,
            settings,
        )

    def store(self, svix_id: str, body: bytes, env: Envelope) -> Stored:
        """Put an event in the inbox; not new for a redelivered svix-id."""
        try:
            with self.pool.connection() as conn:
                return Stored(inbox.store_webhook(conn, svix_id, body, env))
        except PoolTimeout:
            sent = False  # no connection, so the INSERT was never sent
        except psycopg.OperationalError:
            sent = True  # the INSERT may have committed before the connection died
        # After a database restart the pool holds dead connections, or waits out its
        # reconnection backoff: one direct connection tells "back" from "down" now.
        log.info("inbox retry on a direct connection", extra={"svix_id": svix_id})
        with db.connect(
            self.settings.require_database_url(), autocommit=True, connect_timeout=2
        ) as conn:
            new = inbox.store_webhook(conn, svix_id, body, env)
        return Stored(new, maybe_ours=sent and not new)

    def close(self) -> None:
        self.notifier.close()
        self.pool.close()

    def verify(self, body: bytes, headers: dict[str, str]) -> bool:
        """True when any configured secret signed this body (several during a rotation)."""
        for verifier in self.verifiers:
            try:
                verifier.verify(body, headers)
            except (WebhookVerificationError, ValueError):
                continue
            return True
        return False

    def wake_worker(self) -> bool:
        """Ask for a drain; True when one was already queued. A broker outage is logged,
        never fatal (the sweep catches up)."""
        try:
            return not wakeup.request_drain(
                self.redis,
                self.settings.queue,
                lambda: self.celery.send_task(DRAIN_TASK, retry=False),
            )
        except Exception as exc:
            log.warning("could not wake the worker", extra={"error": type(exc).__name__})
            return False

    def database_ready(self) -> str | None:
        try:
            with self.pool.connection(timeout=1.0) as conn:
                conn.execute("SELECT 1")
        except (psycopg.Error, Exception) as exc:
            return type(exc).__name__
        return None

    def broker_ready(self) -> str | None:
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            return type(exc).__name__
        return None


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["clerk_mirror"]
    return rt
