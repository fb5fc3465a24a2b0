"""A worker killed with SIGKILL mid-burst loses nothing and applies nothing twice."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import (
    Waker,
    assert_applied_exactly_once,
    processed,
    wait_processed,
)
from tests.faults.synth import Event, store_at
from tests.support.processes import running, stop, wait_for, worker_argv

pytestmark = pytest.mark.slow

CHUNK = 100


def test_worker_killed_mid_burst_then_restarted_applies_every_event_exactly_once(
    burst_2000: tuple[list[Event], dict[str, Any]],
    database_url: str,
    redis_url: str,
    queue_name: str,
    tmp_path: Path,
) -> None:
    events, reference = burst_2000
    # Mostly in order, as Svix delivers, with some late ones inside each chunk.
    chunks = [events[i : i + CHUNK] for i in range(0, len(events), CHUNK)]
    for seed, chunk in enumerate(chunks):
        random.Random(seed).shuffle(chunk)
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "CLERK_MIRROR_QUEUE": queue_name}
    waker = Waker(redis_url, queue_name)
    try:
        with running(worker_argv(queue_name), env, tmp_path / "worker-1.log") as worker:
            for chunk in chunks[:8]:
                store_at(database_url, chunk)
                waker.wake()
            wait_for(lambda: processed(database_url) > 0, 30, "the worker to start applying")
            stop(worker, signal.SIGKILL)
            at_kill = processed(database_url)
        assert 0 < at_kill < len(events)
        for chunk in chunks[8:]:
            store_at(database_url, chunk)
        started = time.monotonic()
        with running(worker_argv(queue_name), env, tmp_path / "worker-2.log"):
            waker.wake()
            wait_processed(database_url, len(events), 40)
        print(f"killed at {at_kill} processed; rest applied in {time.monotonic() - started:.1f} s")
    finally:
        waker.close()
    assert_applied_exactly_once(database_url, events, reference)
