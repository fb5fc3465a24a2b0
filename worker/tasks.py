"""Celery tasks: thin wrappers that open a transaction and call the mirror.

Their settings are the app's (worker.app reads them once); tests hand their own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

import psycopg
import psycopg_pool
import redis

from worker import db, metrics, wakeup
from worker.app import app
from worker.backfill import run as backfill
from worker.inbox import claim as inbox
from worker.inbox import ops
from worker.mirror import apply as mirror
from worker.privacy import erase
from worker.task_names import BACKFILL_TASK, DRAIN_TASK, ERASE_TASK, PURGE_TASK, SWEEP_TASK

log = logging.getLogger(__name__)

BATCH_USERS = 200
# A drain hands over to a fresh task after this long, so one busy task never starves
# the others (and a deploy never waits long for it).
DRAIN_BUDGET_S = 10.0

_redis: dict[str, redis.Redis[bytes]] = {}


def _wake_client() -> redis.Redis[bytes]:
    url = app.settings.redis_url
    if url not in _redis:
        _redis[url] = wakeup.client(url)
    return _redis[url]


def _ensure_pool() -> None:
    # Worker processes open their pool at fork; this covers in-process callers.
    try:
        db.pool()
    except RuntimeError:
        db.open_pool(app.settings.require_database_url())


def apply_batch(limit: int = BATCH_USERS) -> mirror.BatchResult:
    """Apply one batch, user by user if it raises, so one bad event blocks no other."""
    _ensure_pool()
    started = time.perf_counter()
    with db.transaction() as conn:
        result = mirror.apply_pending(conn, limit=limit, pii_key=app.settings.pii_key)
    _observe(result, time.perf_counter() - started)
    return result


def _observe(result: mirror.BatchResult, seconds: float) -> None:
    # Counted after the commit, so a rolled-back batch is never reported as applied.
    if not result.claimed:
        return
    metrics.observe_apply(seconds)
    for outcome in metrics.APPLY_OUTCOMES:
        metrics.count_applied(outcome, len(getattr(result, outcome)))
    metrics.count_sms(result.sms_regions)
    log.info(
        "batch applied",
        extra={
            "count": result.claimed,
            "svix_ids": result.processed + result.ignored,
            "failed": result.failed,
            "retrying": result.retrying,
            "duration_s": round(seconds, 4),
        },
    )


@app.task(
    name=DRAIN_TASK,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(psycopg.OperationalError, psycopg_pool.PoolTimeout),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=None,
)
def drain() -> int:
    """Apply pending inbox events until none is due.

    While its claims find events, the drain holds the wake-up flag (worker.wakeup): the web
    then sends no drain for the events committed meanwhile, and this one claims them next.
    A paced load thus costs one task and its broker round trips per lull, not per batch.
    Once a claim finds nothing, the drain clears the flag and claims again, for events
    whose wake-up found it set; an event committed after the clear wakes a drain of its own.
    """
    wake = _wake_client()
    holding = _flag(wakeup.started, wake)
    held_at = time.monotonic()
    applied, retrying, deadline = 0, False, held_at + DRAIN_BUDGET_S
    try:
        while True:
            if holding and time.monotonic() - held_at > wakeup.HOLD_RENEW_S:
                _flag(wakeup.hold, wake)
                held_at = time.monotonic()
            result = apply_batch()
            applied += result.claimed
            retrying |= bool(result.retrying)
            if result.claimed >= BATCH_USERS:
                _ask_for_help()
            elif holding and not result.claimed:
                # Claims after the clear take every due event no other worker holds, as of
                # a snapshot that began after it.
                _flag(wakeup.clear, wake)
                holding = False
                continue
            elif not holding:
                # Short, after the clear: it took every event committed before the clear;
                # those since woke a drain of their own. So no claim again only to find
                # nothing.
                break
            if time.monotonic() > deadline:
                # Handed over with the flag still set: the next drain claims for us.
                drain.delay()
                holding = False
                if retrying:
                    # The drain taking over schedules only its own failures: these are ours.
                    _retry_when_due()
                return applied
    finally:
        if holding:  # raised: an event committed now must wake a drain at once
            _flag(wakeup.clear, wake)
    if retrying or not applied:
        # Failures back off: the drain that recorded them wakes the drain for them. One
        # that found nothing due (woken by the sweep, say, for events still backing off
        # after a replay's failure or a lost wake-up) asks too; a drain that applied
        # without failures has nothing to schedule, and skips the query.
        _retry_when_due()
    return applied


def _flag(change: Callable[[redis.Redis[bytes], str], None], wake: redis.Redis[bytes]) -> bool:
    """Change the wake-up flag; False when Redis failed (it expires by itself)."""
    try:
        change(wake, app.settings.queue)
    except redis.RedisError:
        log.warning("could not set or clear the drain flag; it expires by itself")
        return False
    return True


def _retry_when_due() -> None:
    # Failed applies back off (2 s, doubling): a drain for when the first is due again, or
    # only the beat sweep would retry them, up to CLERK_MIRROR_SWEEP_INTERVAL later.
    with db.transaction() as conn:
        delay = inbox.next_retry_in(conn)
    if delay is None:
        return
    try:
        wakeup.request_retry(
            _wake_client(),
            app.settings.queue,
            delay,
            lambda countdown: drain.apply_async(countdown=countdown),
        )
    except Exception:
        log.warning("could not schedule a drain for the next retry; the sweep will wake one")


def _ask_for_help() -> None:
    # A full batch means a backlog: queue one more drain (coalesced like the web's wake-up)
    # so an idle worker process joins; SKIP LOCKED gives the two disjoint users.
    try:
        wakeup.request_help(_wake_client(), app.settings.queue, drain.delay)
    except Exception:
        log.warning("could not ask for a second drain; this one carries on alone")


@app.task(name=SWEEP_TASK, acks_late=True, ignore_result=True)
def sweep() -> int:
    """Wake a drain when pending events outlived the grace period (a lost wake-up)."""
    _ensure_pool()
    with db.transaction() as conn:
        stale = inbox.count_stale(conn, app.settings.sweep_grace_s)
    if stale:
        log.info("sweep found stale pending events", extra={"count": stale})
        drain.delay()
    return stale


@app.task(name=BACKFILL_TASK, acks_late=True, ignore_result=True)
def backfill_task(reconcile: bool = False) -> int:
    """List Clerk's users into the mirror, continuing an unfinished run; returns the run id."""
    settings = app.settings
    try:
        with backfill.open_client(settings) as client:
            url = settings.require_database_url()
            run = backfill.run(
                url, client, resume=True, reconcile=reconcile, pii_key=settings.pii_key
            )
            return int(run["id"])
    except backfill.BackfillBusy:
        log.info("a backfill is already running; this one stands down")
        return 0


# How each retention batch waits for the worker (tests hand in one that does not sleep).
retention_yield: Callable[[], ops.YieldToWorker] = ops.YieldToWorker


@app.task(name=PURGE_TASK, acks_late=True, ignore_result=True)
def purge() -> int:
    """Drop the payloads of events closed more than CLERK_MIRROR_RETENTION_DAYS ago, then
    remove closed rows older than CLERK_MIRROR_INBOX_KEEP_DAYS; a short transaction a batch,
    each waiting (up to a minute) while the worker has a backlog."""
    days, keep_days = app.settings.retention_days, app.settings.inbox_keep_days
    _ensure_pool()
    purged = removed = 0
    if days:
        age = timedelta(days=days)
        purged = ops.in_batches(
            db.transaction, lambda conn: ops.purge_batch(conn, age), yield_to=retention_yield()
        )
        log.info("purged payloads", extra={"count": purged, "older_than_days": days})
    if keep_days is not None:
        removed = ops.in_batches(
            db.transaction, ops.RowRemoval(keep_days), yield_to=retention_yield()
        )
        log.info("removed closed events", extra={"count": removed, "older_than_days": keep_days})
    return purged + removed


@app.task(name=ERASE_TASK, acks_late=True, ignore_result=True)
def erase_deleted() -> int:
    """Erase users deleted more than CLERK_MIRROR_ERASE_DELETED_AFTER_DAYS ago, a batch each."""
    days = app.settings.erase_after_days
    if days is None:
        return 0
    _ensure_pool()
    erased = 0
    while True:
        with db.transaction() as conn:
            batch = erase.erase_deleted(conn, days)
        erased += len(batch)
        if len(batch) < erase.BATCH_USERS:
            break
    if erased:
        log.info("erased deleted users", extra={"count": erased, "deleted_days_ago": days})
    return erased
