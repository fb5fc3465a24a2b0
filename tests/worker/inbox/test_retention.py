"""Inbox retention: payloads purged and closed rows removed in short batches, and never a
row that Svix could still redeliver, a failed or dead one, or one a replay could use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest

from tests.support.bodies import STORY
from tests.support.crafted import moment, phone, snapshot
from tests.support.settings import hand_tasks
from tests.worker.mirror.helpers import deliver, drain, mirror_state, put
from worker import config, db, tasks
from worker.app import celery_settings
from worker.inbox import ops
from worker.mirror.apply import apply_ids

# One row of each kind that retention must tell apart, all received and closed `age` ago.
ROWS = """
INSERT INTO clerk.webhook_events
    (svix_id, event_type, payload, received_at, status, processed_at, attempts)
VALUES
    ('closed_purged', 'user.updated', NULL, now() - %(age)s, 'processed', now() - %(age)s, 1),
    ('ignored', 'session.created', NULL, now() - %(age)s, 'ignored', now() - %(age)s, 0),
    ('holds_payload', 'user.updated', '\\x7b7d', now() - %(age)s, 'processed',
     now() - %(age)s, 1),
    ('failed', 'user.updated', NULL, now() - %(age)s, 'failed', now() - %(age)s, 1),
    ('dead', 'user.updated', '\\x7b7d', now() - %(age)s, 'dead', now() - %(age)s, 5),
    ('pending', 'user.updated', '\\x7b7d', now() - %(age)s, 'pending', NULL, 0),
    -- Closed long ago, received within the redelivery window: Svix may send it again.
    ('received_late', 'user.updated', NULL, now() - interval '2 days', 'processed',
     now() - %(age)s, 1)
"""


def kept(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT svix_id FROM clerk.webhook_events")}


def test_removal_takes_only_closed_purged_rows_past_the_window(conn: psycopg.Connection) -> None:
    conn.execute(ROWS, {"age": timedelta(days=10)})
    assert ops.remove_batch(conn, keep_days=11) == 0
    assert ops.remove_batch(conn, keep_days=3) == 2
    assert kept(conn) == {"holds_payload", "failed", "dead", "pending", "received_late"}


def test_removal_refuses_a_window_shorter_than_svix_redelivers(conn: psycopg.Connection) -> None:
    conn.execute(ROWS, {"age": timedelta(days=10)})
    with pytest.raises(ValueError, match="at least 3 days"):
        ops.remove_batch(conn, keep_days=2)
    assert len(kept(conn)) == 7


def test_removal_keeps_the_event_a_users_mirrored_version_came_from(
    conn: psycopg.Connection,
) -> None:
    deliver(conn, [(STORY[0], "a"), (STORY[1], "b")])
    conn.execute(
        "UPDATE clerk.webhook_events SET payload = NULL, received_at = now() - interval '9 d',"
        " processed_at = now() - interval '9 d'"
    )
    assert ops.remove_batch(conn, keep_days=3) == 1
    assert kept(conn) == {"b"}


HISTORY = """
SELECT phone_number_id, change, verification_status, effective_at
FROM clerk.phone_number_history ORDER BY effective_at, phone_number_id
"""


def test_a_user_with_an_open_event_keeps_the_rows_its_late_apply_refolds(
    conn: psycopg.Connection,
) -> None:
    unverified = phone("idn_p", "+447700900123", status="unverified")
    verified = phone("idn_p", "+447700900123")
    for svix_id, at, phones in (
        ("e1", moment(1), [unverified]),
        ("e2", moment(2), [verified]),
        ("e3", moment(3), [phone("idn_q", "+447700900456")]),
    ):
        put(conn, snapshot("user_r", at, phones), svix_id)
        drain(conn)
    # An event older than e2 that failed for good: an operator redrives it later.
    put(conn, snapshot("user_r", moment(1, 720), [unverified]), "late")
    conn.execute("UPDATE clerk.webhook_events SET status = 'dead' WHERE svix_id = 'late'")
    conn.execute(
        "UPDATE clerk.webhook_events SET received_at = now() - interval '30 days',"
        " processed_at = now() - interval '30 days' WHERE status = 'processed'"
    )
    assert ops.purge(conn, timedelta(days=7)) == 3
    before = conn.execute(HISTORY).fetchall()

    assert ops.remove_batch(conn, keep_days=7) == 0
    assert kept(conn) == {"e1", "e2", "e3", "late"}
    apply_ids(conn, ["late"])
    history = conn.execute(HISTORY).fetchall()
    # The late event adds its own rows; the verification e2 recorded is still there.
    assert set(before) <= set(history)
    assert ("idn_p", "updated", "verified", moment(2)) in history


def test_purge_runs_in_bounded_batches_each_in_its_own_transaction(
    database_url: str,
) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(ROWS, {"age": timedelta(days=10)})
        conn.execute(
            "INSERT INTO clerk.webhook_events (svix_id, event_type, payload, status,"
            " processed_at) SELECT 'p' || i, 'user.updated', '\\x7b7d', 'processed',"
            " now() - interval '40 days' FROM generate_series(1, 7) AS i"
        )
    transactions = 0

    with psycopg.connect(database_url, autocommit=True) as conn:

        @contextmanager
        def transaction() -> Iterator[psycopg.Connection]:
            nonlocal transactions
            transactions += 1
            with conn.transaction():
                yield conn

        assert ops.purgeable(conn, timedelta(days=5)) == 8
        step = lambda c: ops.purge_batch(c, timedelta(days=5), batch=3)  # noqa: E731
        assert ops.in_batches(transaction, step, batch=3) == 8
        assert transactions == 3
        # Failed, dead and pending rows keep their payload: an operator redrives them.
        assert {
            r[0]
            for r in conn.execute(
                "SELECT svix_id FROM clerk.webhook_events WHERE payload IS NOT NULL"
            )
        } == {"dead", "pending"}


def test_keep_days_schedules_the_daily_task_which_removes_rows_after_their_payload(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedule = celery_settings(
        config.from_env({"CLERK_MIRROR_RETENTION_DAYS": "0", "CLERK_MIRROR_INBOX_KEEP_DAYS": "3"})
    )["beat_schedule"]
    assert "purge-payloads" in schedule
    with psycopg.connect(database_url) as conn:
        deliver(conn, [(STORY[0], "a"), (STORY[1], "b")])
        conn.execute(ROWS, {"age": timedelta(days=10)})
        conn.execute(
            "UPDATE clerk.webhook_events SET received_at = now() - interval '9 d',"
            " processed_at = now() - interval '9 d' WHERE svix_id IN ('a', 'b')"
        )
        before = mirror_state(conn)
    db.open_pool(database_url)
    try:
        hand_tasks(monkeypatch, CLERK_MIRROR_RETENTION_DAYS="7", CLERK_MIRROR_INBOX_KEEP_DAYS="3")
        sleeps: list[float] = []
        monkeypatch.setattr(
            tasks, "retention_yield", lambda: ops.YieldToWorker(sleep=sleeps.append)
        )
        # Payloads of a, b and holds_payload, then rows a, closed_purged, ignored and
        # holds_payload: b is the user's mirrored version, the rest are open or recent.
        assert tasks.purge() == 3 + 4
        # The row pending for 10 days: each job's one batch waited its whole cap, then ran.
        assert sum(sleeps) == 2 * ops.YIELD_CAP
    finally:
        db.close_pool()
    with psycopg.connect(database_url) as conn:
        assert kept(conn) == {"b", "failed", "dead", "pending", "received_late"}
        assert mirror_state(conn) == before


def test_a_large_inbox_estimates_its_closed_counts_and_says_so(
    conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn.execute(ROWS, {"age": timedelta(days=10)})
    conn.execute(
        "INSERT INTO clerk.webhook_events (svix_id, event_type, status, processed_at)"
        " SELECT 'e' || i, 'user.updated', (ARRAY['processed', 'ignored'])[1 + i / 20], now()"
        " FROM generate_series(1, 30) AS i"
    )
    exact = ops.inbox_status(conn)
    assert exact.estimated == ()
    conn.execute("ANALYZE clerk.webhook_events")
    monkeypatch.setattr(ops, "EXACT_PAGES", -1)
    estimated = ops.inbox_status(conn)
    assert estimated.estimated == ("processed", "ignored")
    assert estimated.counts == exact.counts


def test_removal_batches_go_on_from_where_the_last_stopped_past_kept_rows(
    conn: psycopg.Connection,
) -> None:
    conn.execute(ROWS, {"age": timedelta(days=10)})
    conn.execute(
        "INSERT INTO clerk.webhook_events (svix_id, event_type, received_at, status,"
        " processed_at) SELECT 'old' || i, 'session.created', now() - interval '9 d',"
        " 'ignored', now() - interval '9 d' + i * interval '1 s' FROM generate_series(1, 5) i"
    )
    removal = ops.RowRemoval(3, batch=2)
    assert [removal(conn) for _ in range(5)] == [2, 2, 2, 1, 0]
    # Each batch starts at the last one's newest row: the failed, dead and payload rows
    # closed before it are not read again.
    assert removal.after is not None
    assert kept(conn) == {"holds_payload", "failed", "dead", "pending", "received_late"}


class Behind:
    """The worker's backlog as `answers` say, one answer a question (then not behind)."""

    def __init__(self, *answers: bool) -> None:
        self.answers, self.asked = list(answers), 0

    def __call__(self, conn: psycopg.Connection) -> bool:
        self.asked += 1
        return self.answers.pop(0) if self.answers else False


@pytest.mark.parametrize(
    ("answers", "sleeps", "asked"),
    [
        ((), 0, 1),  # a quiet inbox: no wait
        ((True, True, False), 2, 3),  # a backlog that clears: waits until it has
        ((True,) * 10, 4, 4),  # one that never clears: waits its cap (4 polls), then goes on
    ],
)
def test_retention_batches_yield_to_a_worker_behind_at_most_their_cap(
    conn: psycopg.Connection, answers: tuple[bool, ...], sleeps: int, asked: int
) -> None:
    slept: list[float] = []
    behind = Behind(*answers)
    wait = ops.YieldToWorker(behind=behind, poll=0.5, cap=2.0, sleep=slept.append)
    order: list[str] = []

    @contextmanager
    def transaction() -> Iterator[psycopg.Connection]:
        yield conn

    def step(c: psycopg.Connection) -> int:
        order.append(f"batch after {len(slept)} waits")
        return 0

    assert ops.in_batches(transaction, step, batch=3, yield_to=wait) == 0
    assert slept == [0.5] * sleeps
    assert order == [f"batch after {sleeps} waits"]
    assert wait.waited == 0.5 * sleeps
    assert behind.asked == asked


def test_the_worker_is_behind_when_an_event_has_waited_more_than_a_moment(
    conn: psycopg.Connection,
) -> None:
    assert not ops.worker_behind(conn)
    conn.execute(
        "INSERT INTO clerk.webhook_events (svix_id, event_type, status, received_at)"
        " VALUES ('fresh', 'user.updated', 'pending', now())"
    )
    assert not ops.worker_behind(conn)
    conn.execute(
        "INSERT INTO clerk.webhook_events (svix_id, event_type, status, received_at)"
        " VALUES ('waited', 'user.updated', 'pending', now() - %(age)s)",
        {"age": ops.BEHIND * 2},
    )
    assert ops.worker_behind(conn)
    # Retrying in an hour: nothing for the worker to do meanwhile, so retention goes on.
    conn.execute("UPDATE clerk.webhook_events SET next_attempt_at = now() + interval '1 hour'")
    assert not ops.worker_behind(conn)
    conn.execute("UPDATE clerk.webhook_events SET status = 'processed', processed_at = now()")
    assert not ops.worker_behind(conn)
