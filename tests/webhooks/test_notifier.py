"""The notifier: accepted svix-ids logged and one wake-up per pass, off the request path."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from webhooks.notifier import PASS_INTERVAL_S, QUEUED_INTERVAL_S, Notifier


class Wakes:
    """A wake-up that finds a drain already queued when `queued` says so."""

    def __init__(self, *, queued: bool = False) -> None:
        self.count = 0
        self.called = threading.Event()
        self.queued = queued
        self.at: list[float] = []

    def __call__(self) -> bool:
        self.count += 1
        self.at.append(time.monotonic())
        self.called.set()
        return self.queued


def accepted_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "webhooks accepted"]


def test_a_pass_logs_the_svix_ids_and_wakes_once(caplog: pytest.LogCaptureFixture) -> None:
    wakes = Wakes()
    notifier = Notifier(wakes)
    with caplog.at_level(logging.INFO, logger="webhooks.notifier"):
        notifier.accepted("msg_1", stored=True, wake=True)
        assert wakes.called.wait(2.0)
        notifier.close()
    lines = accepted_lines(caplog)
    assert [r.svix_ids for r in lines] == [["msg_1"]]  # type: ignore[attr-defined]
    assert wakes.count == 1


def test_close_flushes_what_is_noted_and_stops_the_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wakes = Wakes()
    notifier = Notifier(wakes)
    with caplog.at_level(logging.INFO, logger="webhooks.notifier"):
        for i in range(50):
            notifier.accepted(f"msg_{i}", stored=i % 5 != 0, wake=True)
        notifier.close()
        thread = notifier._thread
        assert thread is not None
        assert not thread.is_alive()
        # A request that finishes during shutdown is still logged, at once.
        notifier.accepted("msg_late", stored=True, wake=False)
    lines = accepted_lines(caplog)
    stored = [i for r in lines for i in r.svix_ids]  # type: ignore[attr-defined]
    repeated = [i for r in lines for i in r.duplicates]  # type: ignore[attr-defined]
    assert sorted(stored) == sorted([f"msg_{i}" for i in range(50) if i % 5] + ["msg_late"])
    assert sorted(repeated) == sorted(f"msg_{i}" for i in range(0, 50, 5))
    assert 1 <= wakes.count < 50


def test_no_wake_for_events_that_need_no_worker(caplog: pytest.LogCaptureFixture) -> None:
    wakes = Wakes()
    notifier = Notifier(wakes)
    with caplog.at_level(logging.INFO, logger="webhooks.notifier"):
        notifier.accepted("msg_session", stored=True, wake=False)
        notifier.accepted("msg_again", stored=False, wake=False)
        notifier.close()
    assert wakes.count == 0
    assert [r.svix_ids for r in accepted_lines(caplog)] == [["msg_session"]]  # type: ignore[attr-defined]


def wakes_during(notifier: Notifier, seconds: float) -> None:
    """Accept an event needing a worker every millisecond for `seconds`."""
    deadline, i = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        notifier.accepted(f"msg_{i}", stored=True, wake=True)
        i += 1
        time.sleep(0.001)


def test_a_queued_drain_spaces_the_passes_and_every_event_still_gets_a_wake() -> None:
    # While a drain is already queued, passes are QUEUED_INTERVAL_S apart, not
    # PASS_INTERVAL_S; an event noted after the last pass is woken for at close.
    queued, fresh = Wakes(queued=True), Wakes(queued=False)
    for wakes in (queued, fresh):
        notifier = Notifier(wakes)
        wakes_during(notifier, 0.3)
        noted_last = time.monotonic()
        notifier.accepted("msg_last", stored=True, wake=True)
        notifier.close()
        assert wakes.at[-1] >= noted_last

    def gaps(wakes: Wakes) -> list[float]:
        # Without the last one: close()'s own pass comes when it is called.
        return [b - a for a, b in zip(wakes.at, wakes.at[1:], strict=False)][:-1]

    assert min(gaps(queued)) >= QUEUED_INTERVAL_S * 0.9
    assert queued.count <= 0.3 / QUEUED_INTERVAL_S + 2
    assert min(gaps(fresh)) >= PASS_INTERVAL_S * 0.9
    assert fresh.count > queued.count
