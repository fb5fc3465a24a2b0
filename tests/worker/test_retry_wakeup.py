"""A real worker retries a failed apply when its backoff is over, not at the next sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Final, LiteralString

import psycopg
import pytest
from celery import Celery

from tests.support.processes import running, wait_for, worker_argv
from tests.worker.mirror.helpers import put
from worker.inbox.claim import BACKOFF_S
from worker.task_names import DRAIN_TASK

# Test-only: writing Ada's phone fails until one failed attempt is recorded, as a
# transient error (a lock timeout, a failover) would.
FAILS_ONCE: Final[LiteralString] = """
CREATE FUNCTION public.fails_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT attempts FROM clerk.webhook_events WHERE svix_id = 'ada') = 0 THEN
        RAISE EXCEPTION 'transient failure';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fails_once BEFORE INSERT OR UPDATE ON clerk.phone_numbers
    FOR EACH ROW EXECUTE FUNCTION public.fails_once();
"""


def ada(url: str) -> tuple[str, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT status, attempts FROM clerk.webhook_events WHERE svix_id = 'ada'"
        ).fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


@pytest.mark.slow
def test_a_transient_failure_is_applied_when_its_backoff_ends_not_at_the_sweep(
    database_url: str, redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(FAILS_ONCE)
        put(conn, "user.created__unverified_phone", "ada")
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CLERK_MIRROR_QUEUE": queue_name,
        # No beat runs here at all; this says the sweep is not what retries.
        "CLERK_MIRROR_SWEEP_INTERVAL": "3600",
    }
    waker = Celery("cpm_test_waker", broker=redis_url)
    waker.conf.update(task_default_queue=queue_name, broker_connection_retry_on_startup=False)
    try:
        with running(worker_argv(queue_name), env, tmp_path / "worker.log"):
            waker.send_task(DRAIN_TASK)
            wait_for(lambda: ada(database_url) == ("pending", 1), 60, "the failed first attempt")
            # Due BACKOFF_S after the failure; the drain for it runs within the second after.
            wait_for(lambda: ada(database_url)[0] == "processed", BACKOFF_S + 6, "the retry")
    finally:
        waker.close()
    assert ada(database_url) == ("processed", 2)
