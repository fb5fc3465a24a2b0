"""A drain holds the wake-up flag while it finds events, on real Redis and Postgres.

The web sends a drain only when it can set the flag (worker.wakeup). These tests play
the web's part between the drain's batches, as its notifier would after a commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import redis

from tests.support.bodies import fixture_body
from tests.support.settings import hand_tasks
from tests.worker.mirror.helpers import put, statuses
from worker import tasks, wakeup
from worker.mirror import apply as mirror

EVENT = "user.created__unverified_phone"


def user_event(user: str) -> dict[str, Any]:
    body = fixture_body(EVENT)
    body["data"]["id"] = f"user_2p{user}"
    body["data"]["primary_phone_number_id"] = f"idn_2p{user}"
    body["data"]["phone_numbers"][0]["id"] = f"idn_2p{user}"
    return body


@pytest.fixture
def broker(
    redis_url: str, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[redis.Redis[bytes]]:
    hand_tasks(monkeypatch, REDIS_URL=redis_url, CLERK_MIRROR_QUEUE=queue_name)
    conn = wakeup.client(redis_url)
    yield conn
    conn.delete(queue_name + wakeup.FLAG_SUFFIX, queue_name + wakeup.HELP_SUFFIX)
    conn.close()


class Web:
    """Between the drain's batches: commit an event for a new user, then ask for a drain."""

    def __init__(self, database_url: str, broker: redis.Redis[bytes], queue: str) -> None:
        self.database_url, self.broker, self.queue = database_url, broker, queue
        self.sent: list[int] = []  # the batch before which a wake-up sent a drain
        self.flag_set: list[bool] = []  # whether the flag was set as each batch began

    def batches(self, events_before: list[str | None]) -> Callable[[], mirror.BatchResult]:
        apply_batch = tasks.apply_batch

        def batch() -> mirror.BatchResult:
            index = len(self.flag_set)
            self.flag_set.append(self.flag())
            user = events_before[index] if index < len(events_before) else None
            if user is not None:
                with psycopg.connect(self.database_url) as conn:
                    put(conn, user_event(user), f"msg_{user}")
                wakeup.request_drain(self.broker, self.queue, lambda: self.sent.append(index))
            return apply_batch()

        return batch

    def flag(self) -> bool:
        return bool(self.broker.exists(self.queue + wakeup.FLAG_SUFFIX))


@pytest.fixture
def web(worker_pool: str, broker: redis.Redis[bytes], queue_name: str) -> Web:
    return Web(worker_pool, broker, queue_name)


def test_events_committed_while_a_drain_finds_work_wake_nothing_and_it_claims_them(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The web's own wake-up set the flag and sent this drain.
    assert wakeup.request_drain(web.broker, web.queue, lambda: None)
    monkeypatch.setattr(tasks, "apply_batch", web.batches(["Ada", "Bob", None, None]))
    assert tasks.drain() == 2
    # Ada and Bob each found the flag set, so no drain was sent: this one claimed them in
    # its next batch. It cleared the flag only after a claim found nothing, and then
    # claimed once more.
    assert web.sent == []
    assert web.flag_set == [True, True, True, False]
    assert not web.flag()
    with psycopg.connect(web.database_url) as conn:
        assert statuses(conn) == {"msg_Ada": "processed", "msg_Bob": "processed"}


def test_an_event_committed_after_the_clear_sends_a_drain_of_its_own(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cy's event is committed before the claim that follows the clear, so that claim takes
    # it too; its wake-up, sent after the clear, queues another drain all the same.
    monkeypatch.setattr(tasks, "apply_batch", web.batches([None, "Cy"]))
    assert tasks.drain() == 1
    assert web.flag_set == [True, False]
    assert web.sent == [1]
    assert web.flag()


def test_a_drain_that_raises_clears_the_flag_so_the_next_event_wakes_a_drain(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> mirror.BatchResult:
        assert web.flag()
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(tasks, "apply_batch", broken)
    with pytest.raises(RuntimeError):
        tasks.drain()
    assert not web.flag()


def test_a_drain_that_holds_the_flag_sets_it_again_before_it_expires(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    ttls: list[int] = []
    batch = web.batches(["Dee", "Eve", None, None])
    key = web.queue + wakeup.FLAG_SUFFIX

    def late_batch() -> mirror.BatchResult:
        # As if each batch had outlasted the renewal interval: the flag's TTL is cut short,
        # and the drain must set it again before its next claim.
        ttls.append(int(web.broker.pttl(key)))
        web.broker.pexpire(key, 50)
        return batch()

    monkeypatch.setattr(wakeup, "HOLD_RENEW_S", 0.0)
    monkeypatch.setattr(tasks, "apply_batch", late_batch)
    assert tasks.drain() == 2
    assert web.sent == []
    assert all(ttl > 1_000 for ttl in ttls[:3]), ttls
    assert ttls[3] < 0  # cleared before the last claim


def test_a_full_batch_asks_for_help_under_its_own_flag_while_the_drain_holds_the_wake_flag(
    worker_pool: str,
    broker: redis.Redis[bytes],
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    helpers: list[bool] = []
    monkeypatch.setattr(tasks, "BATCH_USERS", 2)
    monkeypatch.setattr(tasks.drain, "delay", lambda: helpers.append(True))
    with psycopg.connect(worker_pool) as conn:
        for user in ("Fay", "Gus"):
            put(conn, user_event(user), f"msg_{user}")
    assert tasks.drain() == 2
    assert helpers == [True]
    assert broker.exists(queue_name + wakeup.HELP_SUFFIX)
    # The helper, once it starts, lets the next backlog ask again.
    wakeup.started(broker, queue_name)
    assert not broker.exists(queue_name + wakeup.HELP_SUFFIX)
