"""The notifier: accepted svix-ids logged and one wake-up per pass, off the request path."""

from __future__ import annotations

import logging
import threading

import pytest

from webhooks.notifier import Notifier


class Wakes:
    def __init__(self) -> None:
        self.count = 0
        self.called = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.called.set()


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
