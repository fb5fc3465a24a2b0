"""gunicorn.conf.py: JSON logs, and no access log unless one is asked for."""

from __future__ import annotations

import json
import runpy
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config

CONF = runpy.run_path(str(Path(__file__).parents[2] / "gunicorn.conf.py"))


def logger(*args: str) -> Any:
    cfg = Config()
    cfg.set("logconfig_dict", CONF["logconfig_dict"])
    if args:
        cfg.set(*args)
    return CONF["logger_class"](cfg)


def request() -> tuple[Any, Any, dict[str, str], Any]:
    resp = SimpleNamespace(status="200 OK", headers=[], sent=10, response_length=10)
    req = SimpleNamespace(headers=[], method="POST", path="/webhooks/clerk", query="",
                          version=(1, 1), uri="/webhooks/clerk", peer_addr="127.0.0.1")  # fmt: skip
    environ = {"REMOTE_ADDR": "127.0.0.1", "RAW_URI": "/webhooks/clerk",
               "REQUEST_METHOD": "POST", "SERVER_PROTOCOL": "HTTP/1.1"}  # fmt: skip
    return resp, req, environ, SimpleNamespace(seconds=0, microseconds=1500)


def access_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out, err = capfd.readouterr()
    entries = [json.loads(line) for line in (out + err).splitlines() if line.startswith("{")]
    return [e for e in entries if e["logger"] == "gunicorn.access"]


def test_a_logconfig_dict_alone_writes_no_access_line(capfd: pytest.CaptureFixture[str]) -> None:
    log = logger()
    assert log.access_log_enabled is False
    log.access(*request())
    assert access_lines(capfd) == []


def test_access_logfile_turns_the_access_log_on(capfd: pytest.CaptureFixture[str]) -> None:
    log = logger("accesslog", "-")
    assert log.access_log_enabled is True
    log.access(*request())
    lines = access_lines(capfd)
    assert len(lines) == 1
    assert '"POST /webhooks/clerk HTTP/1.1" 200' in lines[0]["message"]


def test_a_stopping_web_process_closes_its_runtime() -> None:
    closed = []
    app = SimpleNamespace(
        extensions={"clerk_mirror": SimpleNamespace(close=lambda: closed.append(1))}
    )
    CONF["worker_exit"](None, SimpleNamespace(wsgi=app))
    CONF["worker_exit"](None, SimpleNamespace())  # a worker that never loaded the app
    assert closed == [1]


def test_statsd_host_still_gets_request_metrics_without_access_lines(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(2.0)
        log = logger("statsd_host", f"127.0.0.1:{receiver.getsockname()[1]}")
        try:
            log.access(*request())
            datagrams = set()
            while len(datagrams) < 3:
                datagrams.add(receiver.recv(512).decode())
        finally:
            log.sock.close()
    assert "gunicorn.requests:1|c|@1.0" in datagrams
    assert access_lines(capfd) == []
