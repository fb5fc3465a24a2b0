"""The web's gunicorn worker: a thread is given a connection only once its request is in.

gunicorn's gthread worker hands a connection to a thread at its first byte; the thread then
waits on the client for the rest, with no deadline. A few dozen clients that send headers
slowly (or a body, or nothing, or never close) held every thread, and /healthz and the
webhook timed out. Here the worker's own loop, which waits on every socket at once, reads
each request (its headers, and a body of a stated length up to the web's limit) within
CLERK_MIRROR_READ_TIMEOUT; only a complete request reaches a thread, whose reads and
writes give up at that deadline too. A buffering proxy in front is still the first line.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import ThreadWorker

from webhooks.gate import Gate, Verdict

LINGER_S = 2.0  # a closed connection's last bytes, read in the loop, never in it blocking
CHUNK = 64 * 1024


class Deadline:
    """A client socket whose reads give up at a moment: TimeoutError, never a hung thread."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline = sock, deadline

    def recv(self, size: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the client did not send its request in time")
        previous = self.sock.gettimeout()
        self.sock.settimeout(remaining)
        try:
            return self.sock.recv(size)
        finally:
            self.sock.settimeout(previous)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class Worker(ThreadWorker):  # type: ignore[misc]
    """gthread, with every request read in the worker's loop before a thread serves it."""

    read_timeout = 10.0
    max_body = 1024 * 1024

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # The limits of the app this worker serves, from the settings its process read.
        runtime = getattr(self.wsgi, "extensions", {}).get("clerk_mirror")
        if runtime is not None:
            self.read_timeout = runtime.settings.read_timeout_s
            self.max_body = runtime.settings.max_body_bytes
        self.reading: deque[Any] = deque()  # oldest deadline first
        self.lingering: deque[tuple[float, socket.socket]] = deque()

    def enqueue_req(self, conn: Any) -> None:
        """Every path to a thread (new, kept alive, pipelined) goes through the gate first."""
        if self._ungated(conn):
            super().enqueue_req(conn)
            return
        held = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        conn.gate = Gate(held, time.monotonic() + self.read_timeout, self.max_body, self.cfg)
        conn.close = partial(self._close, conn)
        conn.sock.setblocking(False)
        conn.waiting, conn.polled = True, False
        self.reading.append(conn)
        if held:
            self._advance(conn)
        # Most often the request is there already (the poller has just reported a kept-alive
        # connection readable): read it now, and leave to the poller only a request still
        # arriving. Measured with strace on kept-alive requests: 2 epoll_ctl calls a request
        # instead of 3, and 2 epoll_wait instead of 2.5 (docs/benchmarks.md).
        if conn.waiting:
            self._readable(conn, None)
        if conn.waiting:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))
            conn.polled = True

    def _ungated(self, conn: Any) -> bool:
        # TLS and HTTP/2 prior knowledge negotiate on the socket itself: gunicorn's way.
        return bool(self.cfg.is_ssl or negotiation.prior_knowledge_allowed(self.cfg, conn.client))

    def _readable(self, conn: Any, _: Any) -> None:
        try:
            data = conn.sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._forget(conn)
            return
        conn.gate.feed(data)
        self._advance(conn)

    def _advance(self, conn: Any) -> None:
        verdict = conn.gate.verdict()
        if verdict is Verdict.WAIT:
            return
        if verdict is Verdict.CONTINUE:
            self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
        elif verdict in (Verdict.READY, Verdict.HEAD_ONLY):
            self._dispatch(conn)
        else:
            self._refuse(conn, verdict.value)

    def _dispatch(self, conn: Any) -> None:
        self._unwait(conn)
        conn.sock.setblocking(True)
        conn.init()  # plain HTTP/1: only makes the parser, without reading
        conn.parser.unreader.unread(conn.gate.request())
        conn.parser.unreader.sock = Deadline(conn.sock, conn.gate.deadline)
        conn.data_ready = True
        # gunicorn's own, past the gate: this request is in. The connection's next request
        # (kept alive) comes back through enqueue_req, and the gate, with a deadline of its
        # own; a flag set here once let every second request by, read against the deadline
        # of the one before.
        super().enqueue_req(conn)

    def handle_request(self, req: Any, conn: Any) -> bool:
        # The answer goes out within the same time a request may take to come in.
        conn.sock.settimeout(self.read_timeout)
        return bool(super().handle_request(req, conn))

    def _send(self, conn: Any, data: bytes) -> None:
        # A few bytes to a socket with room, or to a client already gone.
        with contextlib.suppress(OSError):
            conn.sock.send(data)

    def _refuse(self, conn: Any, status: str) -> None:
        self._send(
            conn, f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".encode()
        )
        self.log.debug("web refused a request: %s", status)
        self._forget(conn)

    def _forget(self, conn: Any) -> None:
        self._unwait(conn)
        self.nr_conns -= 1
        conn.close(graceful=True)

    def _unwait(self, conn: Any) -> None:
        self.reading.remove(conn)
        if conn.polled:
            self.poller.unregister(conn.sock)
        conn.waiting = conn.polled = False

    def _close(self, conn: Any, graceful: bool = False) -> None:
        """gunicorn's close, with its graceful linger read in the loop: gthread lingered up
        to 2 s blocking its loop for each client that never closed."""
        sock = conn.sock
        if not graceful or len(self.lingering) >= self.worker_connections:
            util.close(sock)
            return
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            self.poller.register(sock, selectors.EVENT_READ, self._drain)
        except (OSError, ValueError, KeyError):
            util.close(sock)
            return
        self.lingering.append((time.monotonic() + LINGER_S, sock))

    def _drain(self, sock: socket.socket) -> None:
        try:
            if sock.recv(CHUNK):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                return
        self._unlinger(sock)

    def _unlinger(self, sock: socket.socket) -> None:
        self.lingering = deque(item for item in self.lingering if item[1] is not sock)
        with contextlib.suppress(KeyError, ValueError):
            self.poller.unregister(sock)
        util.close(sock)

    def murder_pending(self) -> None:
        """gunicorn's, then the requests past their deadline (408) and the lingering."""
        super().murder_pending()
        now = time.monotonic()
        while self.reading and self.reading[0].gate.deadline <= now:
            conn = self.reading[0]
            if conn.gate.started:
                self._refuse(conn, "408 Request Timeout")
            else:
                self._forget(conn)
        while self.lingering and self.lingering[0][0] <= now:
            self._unlinger(self.lingering[0][1])
