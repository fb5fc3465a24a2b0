"""Log injection: what a client sends never forges a log line or reaches the terminal raw.

A request path is percent-decoded before anything logs it, so `%0a` is a newline and `%1b`
an escape character. Each reproduction sends one and reads the lines an operator reads.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from flask import Flask

from tests.support.signing import TEST_SECRET
from tests.webhooks.console_helpers import SECRET
from webhooks import create_app
from worker import logs

FORGED = "12:00:00 INFO    webhooks.clerk: forged line"
# What a terminal would act on: C0 controls (ESC among them), DEL, C1 controls (CSI),
# and the bidirectional overrides that make a line read otherwise than it is.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
HOSTILE = f"/x\n{FORGED}\x1b[2J\x1b]0;pwned\x07\x9b31m\u202eevil\r"


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    """The root logger's lines in the text format, as make run writes them to a terminal."""
    stream = io.StringIO()
    handler = logs.handler(stream, "text")
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def check_one_clean_line_per_record(text: str, records: int) -> None:
    lines = text.splitlines()
    assert len(lines) == records, lines
    assert not RAW_CONTROL.search(text), repr(text)
    assert not any(line.startswith(FORGED) for line in lines)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_hostile_message_and_extra_field_stay_on_one_line_with_controls_escaped(
    fmt: str,
) -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.security.injection")
    logger.propagate = False
    handler = logs.handler(stream, fmt)
    logger.addHandler(handler)
    try:
        logger.warning("refused %s", HOSTILE, extra={"path": HOSTILE, HOSTILE: "key"})
    finally:
        logger.removeHandler(handler)
    check_one_clean_line_per_record(stream.getvalue(), 1)
    if fmt == "json":
        assert json.loads(stream.getvalue())["path"] == HOSTILE  # escaped, not lost
    else:
        assert "\\n12:00:00 INFO" in stream.getvalue()
        assert "\\x1b[2J" in stream.getvalue()


def test_an_exception_keeps_its_lines_but_a_hostile_value_in_it_forges_none() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.security.injection")
    logger.propagate = False
    handler = logs.handler(stream, "text")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(HOSTILE)
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert not RAW_CONTROL.search(text), repr(text)
    assert not any(line.startswith(FORGED) for line in text.splitlines())
    assert "Traceback (most recent call last):\n" in text


@pytest.fixture
def console_app(database_url: str, redis_url: str, queue_name: str) -> Iterator[Flask]:
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
            "CLERK_MIRROR_QUEUE": queue_name,
            "CLERK_MIRROR_CONSOLE_PASSWORD": "correct horse battery staple",
            "CLERK_MIRROR_CONSOLE_SECRET": SECRET,
        }
    )
    yield app
    app.extensions["clerk_mirror"].close()


def test_a_percent_encoded_path_sent_without_logging_in_forges_no_line(
    console_app: Flask, text_log: io.StringIO
) -> None:
    # The path the attack used: decoded, it holds a newline, a forged line and escapes.
    path = "/console/events/x%0A12:00:00%20INFO%20%20%20%20webhooks.clerk:%20forged%20line"
    path += "%1B%5B2J%1B%5D0;pwned%07%C2%9B31m%E2%80%AEevil/replay"
    answers = [
        console_app.test_client().post(path, data={"csrf_token": "none"}).status_code,
        console_app.test_client().get(path.removesuffix("/replay")).status_code,
    ]
    assert all(status < 500 for status in answers), answers
    text = text_log.getvalue()
    assert text  # the refused POST is logged: the check reads a real line
    assert not RAW_CONTROL.search(text), repr(text)
    assert not any(line.startswith("12:00:00 INFO") for line in text.splitlines())
