"""Logs: one JSON object per line (human-readable in a terminal), numbers and secrets masked.

LOG_FORMAT picks the format (worker.config parses it and each entry point hands it in):
`json`, `text`, or auto, text when stderr is a terminal and JSON otherwise (a log
collector reads a pipe or a file).

Every process sets this up once: the web in create_app() (and gunicorn's own loggers
through gunicorn.conf.py), the worker through celery's setup_logging signal, the CLI
in its group. The masking is a handler filter, so it also covers third-party loggers
(celery, gunicorn, psycopg) and exception text (a constraint error's DETAIL can quote
a row). The code never logs payloads; the filter is the second line of defence.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from worker import mask as phone_mask

# E.164 with optional separators (+1 202-555-0143), or a bare run of 9 to 15 digits.
# Digits glued to letters (user_2pAda...0000000001) are ids, not numbers.
_PHONE = re.compile(r"(?<![0-9A-Za-z_])(?:\+\d(?:[\s().-]?\d){6,14}|\d{9,15})(?![0-9A-Za-z_])")
_SECRET = re.compile(r"\b(whsec|sk_live|sk_test|sk)_[A-Za-z0-9+/=_-]+")
# What a client can smuggle into a line (a percent-decoded path, a header, an event type):
# C0 controls, DEL and C1 controls forge lines or reach the terminal as escape sequences;
# the bidirectional overrides and the Unicode line separators make a line read otherwise.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile(_CONTROL.pattern.replace("\x00-\x1f", "\x00-\x09\x0b-\x1f"))
# json.dumps escapes C0 in strings itself; outside them, a newline is the layout's.
_NOT_C0 = re.compile(_CONTROL.pattern.replace("\x00-\x1f", ""))
# The lines Python writes in a traceback: indented ones, its headers, `module.Error: ...`.
_TRACEBACK_LINE = re.compile(
    r"\s|Traceback \(|During handling |The above exception |[A-Za-z_][\w.]*(:|$)"
)
# Attributes every LogRecord has: anything else on a record came in through extra=.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_HANDLER_MARK = "_clerk_mirror_json"


def mask(text: str) -> str:
    """Text with each phone number in it masked as SQL masks one, secrets removed."""
    text = _SECRET.sub(lambda m: m.group(1) + "_***", text)
    return _PHONE.sub(lambda m: phone_mask.phone_number(m.group(0)), text)


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """text with each control character written as an escape (\\n, \\x1b, \\u202e): one
    line that a terminal shows as it is, never acts on."""
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    return repr(match.group(0))[1:-1]


def escape_json_controls(line: str) -> str:
    """A JSON text with the controls json.dumps leaves as they are (DEL, C1, the
    bidirectional overrides) written as \\u escapes: the same JSON, safe on a terminal."""
    return _NOT_C0.sub(lambda m: f"\\u{ord(m.group(0)):04x}", line)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask(str(k)): _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask_value(v) for v in value]
    return value


class RedactFilter(logging.Filter):
    """Mask the message, every extra field and the exception text of each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD:
                setattr(record, name, _mask_value(value))
        return True


class JsonFormatter(logging.Formatter):
    """timestamp, level, logger, message, then the extra fields, as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        # json escapes C0 controls itself, not DEL, C1 or the bidirectional overrides.
        return escape_json_controls(json.dumps(entry, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """time, level, logger: message, then the extra fields as key=value, for a person.

    One record is one line (a traceback adds its own): control characters in what it
    carries are written as escapes.
    """

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, tz=UTC).strftime("%H:%M:%S")
        line = f"{when} {record.levelname:<7} {record.name}: {record.getMessage()}"
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if extra:
            line += "  " + " ".join(f"{k}={v}" for k, v in extra.items())
        line = escape_controls(line)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + _traceback(record.exc_text)
        return line


def _traceback(text: str) -> str:
    """A traceback's lines, escaped; a line that is none of Python's (a newline inside a
    value) is indented, so that it can never pass for a log record of its own."""
    return "\n".join(
        line if not line or _TRACEBACK_LINE.match(line) else "    | " + line
        for line in escape_controls(text, keep_newlines=True).split("\n")
    )


def log_format(stream: Any, chosen: str | None = None) -> str:
    """The chosen format (json or text); without one, text for a terminal, JSON for the rest."""
    if chosen in ("json", "text"):
        return chosen
    isatty = getattr(stream, "isatty", None)
    return "text" if callable(isatty) and isatty() else "json"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    # sys.stderr as it is at each write, not at set-up: test runners and gunicorn swap it.
    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def handler(stream: Any = None, fmt: str | None = None) -> logging.Handler:
    """A stream handler that writes masked lines (the current stderr by default)."""
    out = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    text = log_format(sys.stderr if stream is None else stream, fmt) == "text"
    out.setFormatter(TextFormatter() if text else JsonFormatter())
    out.addFilter(RedactFilter())
    setattr(out, _HANDLER_MARK, True)
    return out


def setup_logging(level: int | str | None = None, fmt: str | None = None) -> None:
    """Route the root logger (and warnings) to one masking handler; safe to call again.

    fmt is LOG_FORMAT as worker.config parsed it (None: by the terminal).
    """
    root = logging.getLogger()
    if not any(getattr(h, _HANDLER_MARK, False) for h in root.handlers):
        root.addHandler(handler(fmt=fmt))
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        # One line per Backend API request drowns a backfill's own progress and summary.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    if level is not None:
        root.setLevel(level)


def gunicorn_logconfig(fmt: str | None = None) -> dict[str, Any]:
    """gunicorn's logconfig_dict: its own loggers (master included) as masked lines too."""
    out = {"()": f"{__name__}.handler", "fmt": fmt}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
        "handlers": {"json": out},
        "formatters": {},
    }
