"""Latency: a steady paced load through web and worker; time from 2xx to applied."""

from __future__ import annotations

import selectors
import socket
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from bench import payloads, procs
from tests.support.processes import free_port, running, wait_for, web_ready, worker_argv
from worker.db import connect

# Inbox timing of the run's events: received (committed before the 2xx) to applied.
APPLIED = """
SELECT extract(epoch FROM processed_at - received_at) * 1000
FROM clerk.webhook_events WHERE svix_id = ANY(%(ids)s) AND status = 'processed'
"""
PENDING = "SELECT count(*) FROM clerk.webhook_events WHERE status = 'pending'"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


class _Conn:
    """One keep-alive connection of the pacer, and the request it waits on, if any."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.job: tuple[float, bytes] | None = None  # (due, request) in flight

    def response(self) -> int | None:
        """The status of the answer in the buffer once it is all in, else None."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buf[:end]).lower()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                length = int(line[15:])
        if len(self.buf) < end + 4 + length:
            return None
        del self.buf[: end + 4 + length]
        return int(head[9:12])


def _request(headers: dict[str, str], body: bytes) -> bytes:
    lines = [
        "POST /webhooks/clerk HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def paced(
    port: int, rate: int, seconds: int, conns: int = 32, *, run: str | None = None, first: int = 0
) -> tuple[list[str], list[tuple[float, int]]]:
    """Send rate x seconds signed requests, each when it is due, on up to `conns` keep-alive
    connections from one thread: a request waits only for a free connection, and its
    latency counts from when it was due, so a stalled sender is not hidden.

    One thread, each request encoded beforehand, a response read only as far as its status
    and length: the pacer shares the cores it measures, so it must cost them little (32
    threads on http.client took 360 to 550 µs of CPU per request; this takes a fraction)."""
    run = run or uuid.uuid4().hex[:8]
    requests = list(payloads.signed_requests(run, rate * seconds, first))
    encoded = [_request(headers, body) for headers, body in requests]
    results: list[tuple[float, int]] = []
    selector = selectors.DefaultSelector()
    idle: deque[_Conn] = deque()
    for _ in range(conns):
        conn = _Conn(port)
        selector.register(conn.sock, selectors.EVENT_READ, conn)
        idle.append(conn)
    waiting: deque[tuple[float, bytes]] = deque()  # due, no connection free yet
    start = time.perf_counter() + 0.2
    sent, busy = 0, 0

    def reconnect(conn: _Conn) -> _Conn:
        selector.unregister(conn.sock)
        conn.sock.close()
        fresh = _Conn(port)
        selector.register(fresh.sock, selectors.EVENT_READ, fresh)
        return fresh

    def send(conn: _Conn, job: tuple[float, bytes]) -> None:
        # A connection the server closed while idle (its keep-alive ran out) is made anew.
        try:
            conn.sock.sendall(job[1])
        except OSError:
            conn = reconnect(conn)
            conn.sock.sendall(job[1])
        conn.job = job

    while sent < len(encoded) or waiting or busy:
        now = time.perf_counter()
        while sent < len(encoded) and start + sent / rate <= now:
            waiting.append((start + sent / rate, encoded[sent]))
            sent += 1
        while waiting and idle:
            send(idle.popleft(), waiting.popleft())
            busy += 1
        timeout = max(0.0, start + sent / rate - now) if sent < len(encoded) else 1.0
        for key, _ in selector.select(timeout):
            conn = key.data
            try:
                data = conn.sock.recv(65536)
            except OSError:
                data = b""
            if not data:  # the server closed it (idle timeout): resend what it held
                job, fresh = conn.job, reconnect(conn)
                if job is None:
                    idle.remove(conn)
                    idle.append(fresh)
                else:
                    send(fresh, job)
                continue
            conn.buf += data
            status = conn.response()
            if status is not None and conn.job is not None:
                results.append(((time.perf_counter() - conn.job[0]) * 1000, status))
                conn.job = None
                busy -= 1
                idle.append(conn)
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    selector.close()
    return [h["svix-id"] for h, _ in requests], results


def warm_up(port: int, url: str, rate: int, seconds: int, run: str) -> dict[str, float]:
    """Paced load at `rate` for `seconds` on processes just started, then wait until it is
    all applied: what a deployment's first second pays once (each web thread's and worker's
    first connection, its first plans), kept out of the steady load measured next. Its
    applied p50 and p99 are returned, so that the price is still shown. The load after it
    continues `run` (paced's `first`), so that users keep arriving in order: every user's
    first number is the same one, and holders that sorted before its last would each fold
    all its holders again (a cost of the bench's data, not of the steady load)."""
    if seconds <= 0:
        return {}
    ids, _ = paced(port, rate, seconds, run=run)
    with connect(url, autocommit=True) as conn:
        wait_for(lambda: conn.execute(PENDING).fetchone() == (0,), 60, "warm-up applied")
        applied = [float(r[0]) for r in conn.execute(APPLIED, {"ids": ids})]
    return {"applied_p50_ms": percentile(applied, 50), "applied_p99_ms": percentile(applied, 99)}


def run(
    env: dict[str, str], work: Path, *, rate: int, seconds: int, warmup_s: int = 0
) -> dict[str, Any]:
    url, port = env["DATABASE_URL"], free_port()
    base = f"http://127.0.0.1:{port}"
    web = procs.gunicorn_argv("webhooks:create_app()", port)
    worker = worker_argv(env["CLERK_MIRROR_QUEUE"])
    with (
        running(web, env, work / "web-latency.log") as web_proc,
        running(worker, env, work / "worker-latency.log") as worker_proc,
    ):
        wait_for(web_ready(base), 30, "web")
        procs.wait_for_line(work / "worker-latency.log", "ready.")
        rss = {"web": procs.RssPeak(web_proc.pid), "worker": procs.RssPeak(worker_proc.pid)}
        sampler_stop = threading.Event()

        def sample() -> None:
            while not sampler_stop.wait(1.0):
                for r in rss.values():
                    r.sample()

        sampler = threading.Thread(target=sample)
        sampler.start()
        run_id = uuid.uuid4().hex[:8]
        warm = warm_up(port, url, rate, warmup_s, run_id)
        ids, results = paced(port, rate, seconds, run=run_id, first=rate * warmup_s)
        sampler_stop.set()
        sampler.join()
        with connect(url, autocommit=True) as conn:
            wait_for(lambda: conn.execute(PENDING).fetchone() == (0,), 60, "all applied")
            applied = [float(r[0]) for r in conn.execute(APPLIED, {"ids": ids})]
    client_ms = [ms for ms, _ in results]
    return {
        "sent": len(results),
        "non_2xx": sum(1 for _, status in results if not 200 <= status < 300),
        "applied": len(applied),
        "client_p50_ms": percentile(client_ms, 50),
        "client_p99_ms": percentile(client_ms, 99),
        "applied_p50_ms": percentile(applied, 50),
        "applied_p99_ms": percentile(applied, 99),
        "warmup": {"seconds": warmup_s, **warm},
        "rss_mb": {
            name: {"first": r.first, "last": r.last, "peak": r.peak} for name, r in rss.items()
        },
    }
