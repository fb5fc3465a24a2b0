"""The beat task erases users deleted long enough ago; the variable sets when, or turns it off."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.support.bodies import STORY
from tests.support.settings import hand_tasks
from tests.worker.mirror.helpers import deliver
from worker import config, db, tasks
from worker.app import ERASE_EVERY_S, celery_settings
from worker.task_names import ERASE_TASK

ADA = "user_2pAdaExample0000000000001"
VAR = "CLERK_MIRROR_ERASE_DELETED_AFTER_DAYS"


def test_erasure_runs_hourly_by_default_with_the_sweep_at_zero_and_not_when_off() -> None:
    default = celery_settings(config.from_env({}))["beat_schedule"]
    assert default["erase-deleted"] == {"task": ERASE_TASK, "schedule": ERASE_EVERY_S}
    at_once = celery_settings(config.from_env({VAR: "0", "CLERK_MIRROR_SWEEP_INTERVAL": "5"}))
    assert at_once["beat_schedule"]["erase-deleted"]["schedule"] == 5.0
    off = celery_settings(config.from_env({VAR: "off"}))["beat_schedule"]
    assert "erase-deleted" not in off


def test_malformed_erase_days_stop_with_the_variable_named() -> None:
    with pytest.raises(config.ConfigError, match=VAR):
        config.from_env({VAR: "a month"})


@pytest.fixture
def worker_db(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url) as conn:
        deliver(conn, [(name, f"msg_{i}") for i, name in enumerate(STORY)])
        deliver(conn, [("user.updated__legacy_shape", "legacy")])
    db.open_pool(database_url)
    try:
        yield database_url
    finally:
        db.close_pool()


def erased(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT user_id, reason FROM clerk.erased_users").fetchall()


def test_the_task_erases_deleted_users_once_they_are_older_than_the_days_set(
    worker_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ada was deleted in 2025 (the fixture's time): long ago.
    hand_tasks(monkeypatch, **{VAR: "off"})
    assert tasks.erase_deleted() == 0
    with psycopg.connect(worker_db) as conn:
        conn.execute(
            "UPDATE clerk.users SET deleted_at = now() - interval '2 days' WHERE id = %s", (ADA,)
        )
    hand_tasks(monkeypatch, **{VAR: "3"})
    assert tasks.erase_deleted() == 0
    hand_tasks(monkeypatch, **{VAR: "0"})
    assert tasks.erase_deleted() == 1
    assert erased(worker_db) == [(ADA, "deleted")]
    assert tasks.erase_deleted() == 0
    with psycopg.connect(worker_db) as conn:
        left = conn.execute(
            "SELECT count(*) FROM clerk.phone_number_history"
            " WHERE user_id = %s AND phone_number IS NOT NULL",
            (ADA,),
        ).fetchone()
    assert left == (0,)
