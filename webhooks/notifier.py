"""After the commit, off the request's path: name accepted events in the log, wake a worker.

Both cost more than the request's own work under load (a JSON log line, a broker round
trip). A request only notes its svix-id; one thread per process then logs every id
noted since its last pass in one line and sends one wake-up. The event is already
durable in the inbox, so a process that dies before this pass loses nothing: the beat
sweep wakes a worker for events left pending.

When a pass finds the wake-up flag set (a drain queued, or one still finding events: see
worker.wakeup), the next pass waits QUEUED_INTERVAL_S instead: that drain claims again
after it clears the flag, so it takes every event committed before this pass, and under a
steady stream every pass in between would only find the flag set again (a Redis round
trip and a thread wake-up each). An event that drain misses (committed after it cleared
the flag) still gets its wake-up at the next pass, at most QUEUED_INTERVAL_S after it was
noted.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# Passes are at least this far apart: under load one pass covers the events of several
# requests (one log line, one wake-up) instead of running once per request; when events
# are rare, a pass still runs as soon as one arrives.
PASS_INTERVAL_S = 0.005
# After a pass that found the flag set.
QUEUED_INTERVAL_S = 0.02


class Notifier:
    def __init__(self, wake: Callable[[], bool]) -> None:
        """wake asks for a drain; True when one was already queued (nothing sent)."""
        self._wake = wake
        self._lock = threading.Lock()
        self._due = threading.Event()
        self._stored: list[str] = []
        self._repeated: list[str] = []
        self._wake_needed = False
        self._owner = 0
        self._thread: threading.Thread | None = None
        self._closing = False
        self._closed = threading.Event()

    def accepted(self, svix_id: str, *, stored: bool, wake: bool) -> None:
        """Note an event that is in the inbox (stored now, or a redelivery)."""
        with self._lock:
            (self._stored if stored else self._repeated).append(svix_id)
            self._wake_needed |= wake
            closing = self._closing
            # Started here, in the process that serves requests: a thread started before
            # a fork (gunicorn --preload) would not exist in the workers.
            if self._owner != os.getpid() and not self._closing:
                self._owner = os.getpid()
                self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
                self._thread.start()
        if closing:  # no thread any more: a request finishing during shutdown
            self.flush()
        self._due.set()

    def flush(self) -> bool:
        """Log and wake now for everything noted (also what the thread runs each pass);
        True when the wake-up found a drain already queued."""
        with self._lock:
            stored, repeated, wake = self._stored, self._repeated, self._wake_needed
            self._stored, self._repeated, self._wake_needed = [], [], False
        queued = self._wake() if wake else False
        if stored or repeated:
            log.info("webhooks accepted", extra={"svix_ids": stored, "duplicates": repeated})
        return queued

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread after a last pass, so nothing noted is left unlogged or unwoken."""
        with self._lock:
            self._closing = True
            thread = self._thread if self._owner == os.getpid() else None
        self._closed.set()
        self._due.set()
        if thread is not None:
            thread.join(timeout)
        self.flush()

    def _run(self) -> None:
        while not self._closing:
            self._due.wait()
            self._due.clear()
            queued = self.flush()
            self._closed.wait(QUEUED_INTERVAL_S if queued else PASS_INTERVAL_S)
