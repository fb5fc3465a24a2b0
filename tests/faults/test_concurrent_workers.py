"""Two worker processes applying the same users' events at once, in random order, agree."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import Waker, assert_applied_exactly_once, drained_counts, wait_processed
from tests.faults.synth import Event, store_at
from tests.support.processes import running, worker_argv

pytestmark = pytest.mark.slow

CHUNK = 50


def test_two_workers_on_the_same_users_in_random_order_give_the_one_by_one_mirror(
    burst_2000: tuple[list[Event], dict[str, Any]],
    database_url: str,
    redis_url: str,
    queue_name: str,
    tmp_path: Path,
) -> None:
    events, reference = burst_2000
    shuffled = events[:]
    random.Random(11).shuffle(shuffled)
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "CLERK_MIRROR_QUEUE": queue_name}
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    waker = Waker(redis_url, queue_name)
    try:
        with (
            running(worker_argv(queue_name), env, logs[0]),
            running(worker_argv(queue_name), env, logs[1]),
        ):
            started = time.monotonic()
            for start in range(0, len(shuffled), CHUNK):
                store_at(database_url, shuffled[start : start + CHUNK])
                # Several drains at once: both workers' processes claim side by side.
                waker.wake(times=4)
            wait_processed(database_url, len(events), 45)
            print(f"2 workers applied {len(events)} events in {time.monotonic() - started:.1f} s")
    finally:
        waker.close()
    assert_applied_exactly_once(database_url, events, reference)
    # Both workers really took part.
    assert all(sum(drained_counts(log)) > 0 for log in logs), [drained_counts(x) for x in logs]
