"""Structured logs: JSON lines with phone numbers and secrets masked everywhere in a record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from worker import config, logs


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger("tests.logs")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logs.handler(stream)
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("+12025550143", "+1 ••••••••43"),
        ("call 12025550143 now", "call •••••••••43 now"),
        ("+1 202-555-0143", "+1 ••••••••43"),
        ("+447700900123,+33612345678", "+44 ••••••••23,+33 •••••••78"),
        ("whsec_dGVzdC1zZWNyZXQ=", "whsec_***"),
        ("key sk_test_abcDEF123", "key sk_test_***"),
        ("user_2pAdaExample0000000000001", "user_2pAdaExample0000000000001"),
        ("task_abc has 5000 items", "task_abc has 5000 items"),
    ],
)
def test_mask_hides_numbers_and_secrets_but_keeps_ids(text: str, masked: str) -> None:
    assert logs.mask(text) == masked


def test_record_is_one_json_line_with_extra_fields(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("applied %d events", 3, extra={"svix_id": "msg_1", "count": 3})
    (entry,) = lines(stream)
    assert entry["message"] == "applied 3 events"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "tests.logs"
    assert entry["svix_id"] == "msg_1"
    assert entry["count"] == 3
    assert str(entry["timestamp"]).endswith("+00:00")


def test_numbers_and_secrets_are_masked_in_message_args_extras_and_exceptions(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    try:
        raise ValueError("Failing row contains (idn_1, +12025550143)")
    except ValueError:
        logger.exception(
            "number %s secret %s",
            "+447700900123",
            "whsec_c2VjcmV0",
            extra={"error": "sk_live_XYZ123456", "numbers": ["+33612345678", {"n": "2025550143"}]},
        )
    raw = stream.getvalue()
    for leaked in ("12025550143", "447700900123", "c2VjcmV0", "XYZ123456", "33612345678"):
        assert leaked not in raw
    (entry,) = lines(stream)
    assert entry["message"] == "number +44 ••••••••23 secret whsec_***"
    assert entry["numbers"] == ["+33 •••••••78", {"n": "••••••••43"}]
    assert "+1 ••••••••43" in str(entry["exception"])


def test_setup_logging_twice_installs_one_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        logs.setup_logging()
        logs.setup_logging()
        added = [h for h in root.handlers if h not in before]
        assert len(added) <= 1
        assert sum(1 for h in root.handlers if getattr(h, "_clerk_mirror_json", False)) == 1
    finally:
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_readable_lines_and_a_pipe_gets_json() -> None:
    record = logging.makeLogRecord(
        {"name": "clerk", "levelname": "INFO", "msg": "sent to +12025550143", "svix_id": "msg_1"}
    )
    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        out = logs.handler(stream)
        out.handle(logging.makeLogRecord(vars(record)))
    line = terminal.getvalue()
    assert " INFO    clerk: sent to +1 ••••••••43  svix_id=msg_1" in line
    assert json.loads(pipe.getvalue())["message"] == "sent to +1 ••••••••43"


@pytest.mark.parametrize(("setting", "json_lines"), [("json", True), ("text", False)])
def test_log_format_overrides_the_terminal_check(setting: str, json_lines: bool) -> None:
    chosen = config.from_env({"LOG_FORMAT": setting}).log_format
    for stream in (Terminal(), io.StringIO()):
        logs.handler(stream, chosen).handle(logging.makeLogRecord({"msg": "hello"}))
        first = stream.getvalue().strip()
        assert first.startswith("{") is json_lines
