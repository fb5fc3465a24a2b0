"""The sweep's pacer: every request sent once and answered, on connections the server closes."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import pytest

from bench import latency
from tests.support.processes import http_server


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[Counter[str]] = Counter()
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.seen[self.headers["svix-id"]] += 1
            closing = sum(self.seen.values()) % 7 == 0
        body = b'{"ok":true}\n'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if closing:  # as a server whose keep-alive ran out: the pacer must reconnect
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, Counter[str]]]:
    _Recorder.seen = Counter()
    with http_server(_Recorder) as port:
        yield port, _Recorder.seen


def test_the_pacer_sends_each_request_once_and_reads_every_answer(
    server: tuple[int, Counter[str]],
) -> None:
    port, seen = server
    ids, results = latency.paced(port, rate=200, seconds=1, conns=4)
    assert len(ids) == 200
    assert [status for _, status in results] == [200] * 200
    assert seen == Counter(ids), "a request was lost or sent twice"
    assert all(ms >= 0 for ms, _ in results)
