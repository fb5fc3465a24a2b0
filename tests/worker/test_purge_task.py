"""The daily beat task drops old payloads when retention is on, and is not scheduled when off."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.support.bodies import STORY
from tests.support.settings import hand_tasks
from tests.worker.mirror.helpers import deliver, mirror_state
from worker import config, db, tasks
from worker.app import PURGE_EVERY_S, celery_settings
from worker.task_names import PURGE_TASK


def test_purge_is_scheduled_daily_by_default_and_not_when_retention_is_zero() -> None:
    default = celery_settings(config.from_env({}))["beat_schedule"]
    assert default["purge-payloads"] == {"task": PURGE_TASK, "schedule": PURGE_EVERY_S}
    assert PURGE_EVERY_S == 86400
    off = celery_settings(config.from_env({"CLERK_MIRROR_RETENTION_DAYS": "0"}))["beat_schedule"]
    assert "purge-payloads" not in off
    assert "sweep-pending" in off


def test_malformed_retention_stops_with_the_variable_named() -> None:
    with pytest.raises(config.ConfigError, match="CLERK_MIRROR_RETENTION_DAYS"):
        config.from_env({"CLERK_MIRROR_RETENTION_DAYS": "a month"})


@pytest.fixture
def worker_db(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url) as conn:
        deliver(conn, [(STORY[0], "old"), (STORY[1], "new")])
        conn.execute(
            "UPDATE clerk.webhook_events SET processed_at = now() - interval '8 days'"
            " WHERE svix_id = 'old'"
        )
    db.open_pool(database_url)
    try:
        yield database_url
    finally:
        db.close_pool()


def test_purge_task_drops_payloads_older_than_retention_days_only(
    worker_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(worker_db) as conn:
        before = mirror_state(conn)
    hand_tasks(monkeypatch, CLERK_MIRROR_RETENTION_DAYS="0")
    assert tasks.purge() == 0
    hand_tasks(monkeypatch, CLERK_MIRROR_RETENTION_DAYS="7")
    assert tasks.purge() == 1
    with psycopg.connect(worker_db) as conn:
        kept = conn.execute(
            "SELECT svix_id FROM clerk.webhook_events WHERE payload IS NOT NULL"
        ).fetchall()
        assert kept == [("new",)]
        assert mirror_state(conn) == before
