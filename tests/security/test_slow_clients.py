"""Slow clients never hold the web: /healthz and the webhook answer while dozens stall.

gunicorn's gthread worker gave each connection a thread at its first byte, and the thread
waited on the client with no deadline: a few dozen connections that sent headers slowly
(or a body, or nothing, or never closed) made /healthz and the webhook time out. Each
reproduction runs the Procfile's web line on loopback and stalls it for real.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.bodies import fixture_body
from tests.support.processes import free_port, wait_for
from tests.support.signing import TEST_SECRET, sign

ROOT = Path(__file__).parents[2]
THREADS = 2
STALLED = 6 * THREADS  # three times the ratio (36 connections for 12 threads)
ANSWER_WITHIN = 2.0  # seconds; a stalled web never answers


def procfile_web() -> str:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return next(line.split(": ", 1)[1] for line in lines if line.startswith("web: "))


@contextlib.contextmanager
def web(database_url: str, redis_url: str, **env: str) -> Iterator[int]:
    """The Procfile's web line (one process, two threads) on a free loopback port."""
    port = free_port()
    environ = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "PORT": str(port),
        "WEB_HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": str(THREADS),
        **env,
    }
    process = subprocess.Popen(
        ["bash", "-c", "exec " + procfile_web()],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: healthz(port, 0.5) == "200", 30, "web")
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def exchange(port: int, request: bytes, timeout: float, host: str = "127.0.0.1") -> bytes:
    """Send a request on a new connection; the answer's bytes until close or timeout."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while time.monotonic() < deadline and (chunk := sock.recv(65536)):
                answer += chunk
        return answer


def one_answer(sock: socket.socket) -> bytes:
    """One answer read off a kept-alive connection: its head, then Content-Length bytes."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        assert chunk, f"the web closed the connection without an answer (after {answer!r})"
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(
        next(
            line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        ).split(b":")[1]
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def healthz(port: int, timeout: float = ANSWER_WITHIN) -> str:
    """The status /healthz answers with, or 'no answer'."""
    try:
        answer = exchange(
            port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", timeout
        )
    except OSError:
        return "no answer"
    return answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.1 ") else "no answer"


def webhook(port: int) -> bytes:
    body = fixture_body("user.created__unverified_phone")
    raw = json.dumps(body).encode()
    headers = sign(raw, f"msg_slow_{time.monotonic_ns()}")
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST /webhooks/clerk HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{head}"
        f"Content-Length: {len(raw)}\r\n\r\n"
    ).encode() + raw
    return exchange(port, request, ANSWER_WITHIN)


def answered_then_slow(sock: socket.socket) -> None:
    """One request answered on a kept-alive connection, then the next one's headers slowly:
    the next request of a connection is gated as its first was."""
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert one_answer(sock).startswith(b"HTTP/1.1 200 ")
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")


STALLS: dict[str, Callable[[socket.socket], None]] = {
    "headers sent slowly": lambda s: s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n"),
    "kept alive, then the next headers sent slowly": answered_then_slow,
    "a body sent slowly": lambda s: s.sendall(
        b"POST /webhooks/clerk HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{"
    ),
    "nothing sent": lambda s: None,
    "never closing after its answer": lambda s: s.sendall(
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    ),
}


@pytest.mark.parametrize("stall", list(STALLS))
def test_stalled_clients_leave_healthz_and_the_webhook_answering(
    database_url: str, redis_url: str, stall: str
) -> None:
    with web(database_url, redis_url) as port:
        stalled = []
        try:
            for _ in range(STALLED):
                sock = socket.create_connection(("127.0.0.1", port))
                STALLS[stall](sock)
                stalled.append(sock)
            time.sleep(0.3)  # every stalled connection reached the web
            started = time.monotonic()
            assert [healthz(port) for _ in range(3)] == ["200"] * 3
            assert webhook(port).startswith(b"HTTP/1.1 200 ")
            assert time.monotonic() - started < 4 * ANSWER_WITHIN
        finally:
            for sock in stalled:
                sock.close()


def test_a_client_too_slow_with_its_headers_is_cut_off_with_408(
    database_url: str, redis_url: str
) -> None:
    with web(database_url, redis_url, CLERK_MIRROR_READ_TIMEOUT="1") as port:
        started = time.monotonic()
        answer = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n", timeout=10)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 5  # the timeout, and one turn of the loop


def test_ordinary_clients_are_served_as_before(database_url: str, redis_url: str) -> None:
    get = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    with web(database_url, redis_url) as port:
        # Kept alive: three requests, one after the other, on one connection.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            for _ in range(3):
                sock.sendall(get)
                assert one_answer(sock).startswith(b"HTTP/1.1 200 ")
        # Pipelined: two requests in one packet, two answers.
        both = exchange(port, get + get.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"), 5)
        assert both.count(b"HTTP/1.1 200 ") == 2
        # A chunked body has no length to wait for: 411. Over the limit: the app's 413.
        chunked = b"POST /webhooks/clerk HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        assert exchange(port, chunked, 5).startswith(b"HTTP/1.1 411 ")
        signed = "".join(f"{k}: {v}\r\n" for k, v in sign(b"{}", "msg_large").items())
        large = f"POST /webhooks/clerk HTTP/1.1\r\n{signed}Content-Length: 2000000\r\n\r\n"
        answer = exchange(port, large.encode(), 5)
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"Connection: close" in answer  # the body it did not wait for is not read
        assert webhook(port).startswith(b"HTTP/1.1 200 ")


def test_each_request_of_a_kept_alive_connection_has_its_own_deadline(
    database_url: str, redis_url: str
) -> None:
    """The next request on a connection is read within its own CLERK_MIRROR_READ_TIMEOUT,
    not what was left of the one before (which closed the connection unanswered)."""
    get = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    with (
        web(database_url, redis_url, CLERK_MIRROR_READ_TIMEOUT="1") as port,
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
    ):
        for _ in range(3):
            sock.sendall(get)
            assert one_answer(sock).startswith(b"HTTP/1.1 200 ")
            time.sleep(1.3)  # past the read timeout, within gunicorn's 2 s keep-alive


def test_a_request_sent_in_two_parts_is_served_and_a_client_gone_at_once_costs_nothing(
    database_url: str, redis_url: str
) -> None:
    get = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    with web(database_url, redis_url) as port:
        for _ in range(3 * THREADS):  # read at once, they are found closed
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(get[:20])  # read at once: not all there, so left to the poller
            time.sleep(0.3)
            sock.sendall(get[20:])
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert healthz(port) == "200"


def test_expect_100_continue_is_answered_once_and_the_body_served(
    database_url: str, redis_url: str
) -> None:
    raw = json.dumps(fixture_body("user.created__unverified_phone")).encode()
    headers = "".join(f"{k}: {v}\r\n" for k, v in sign(raw, "msg_expect").items())
    head = (
        f"POST /webhooks/clerk HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}"
        f"Expect: 100-continue\r\nContent-Length: {len(raw)}\r\n\r\n"
    ).encode()
    with (
        web(database_url, redis_url) as port,
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
    ):
        sock.sendall(head)
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"100 Continue" not in answer


def reachable(port: int, host: str) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_the_web_binds_web_host_and_keeps_every_interface_by_default(
    database_url: str, redis_url: str
) -> None:
    # 127.0.0.2 is loopback too: a socket bound to 127.0.0.1 alone does not answer there.
    with web(database_url, redis_url) as port:
        assert reachable(port, "127.0.0.1")
        assert not reachable(port, "127.0.0.2")
    with web(database_url, redis_url, WEB_HOST="") as port:
        assert reachable(port, "127.0.0.2")
