"""Delayed drains for retries, coalesced per second of due time on real Redis."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import redis

from worker import wakeup


@pytest.fixture
def broker(redis_url: str, queue_name: str) -> Iterator[redis.Redis[bytes]]:
    conn = wakeup.client(redis_url)
    yield conn
    keys = list(conn.scan_iter(match=queue_name + wakeup.RETRY_SUFFIX + "*"))
    if keys:
        conn.delete(*keys)
    conn.close()


def test_retries_due_in_the_same_second_send_one_drain_and_an_earlier_one_its_own(
    broker: redis.Redis[bytes], queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The clock held a quarter into a second: on a busy machine, two calls a few
    # milliseconds apart could fall on either side of a second and be due in two.
    now = math.floor(time.time()) + 0.25
    monkeypatch.setattr(wakeup, "time", SimpleNamespace(time=lambda: now))
    sent: list[float] = []
    assert wakeup.request_retry(broker, queue_name, 5.0, sent.append)
    assert not wakeup.request_retry(broker, queue_name, 5.0, sent.append)
    assert wakeup.request_retry(broker, queue_name, 0.5, sent.append)
    assert len(sent) == 2
    assert 5.0 <= sent[0] <= 6.0
    assert 0.5 <= sent[1] <= 1.5
    # Each flag expires when its drain is due, so that drain can ask for the next retry.
    ttls = sorted(broker.pttl(k) for k in broker.scan_iter(match=f"{queue_name}:*"))
    assert len(ttls) == 2
    assert 0 < ttls[0] <= math.ceil(sent[1] * 1000)
    assert 0 < ttls[1] <= math.ceil(sent[0] * 1000)
