"""The JSON a webhook body must be to be stored: only what Postgres's jsonb reads as well.

The inbox keeps each body as received, and analysts query it with
convert_from(payload, 'UTF8')::jsonb over the whole table: one stored body that jsonb
refuses breaks that query for every row. Python's json reads more than jsonb does (NaN,
Infinity, \\u0000, unpaired surrogates, a byte-order mark); Clerk sends none of these.
"""

from __future__ import annotations

import json

from worker.mirror.events import storable


class NotStorable(ValueError):
    """A body Postgres's jsonb would refuse; the message says why, for the 400."""


def loads(body: bytes) -> object:
    """The body as JSON; NotStorable (or another ValueError) when it is not jsonb's JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise NotStorable("body is not JSON in UTF-8") from None
    if text.startswith("\ufeff"):
        raise NotStorable("body is JSON with a byte-order mark, which Postgres refuses")
    value = json.loads(text, parse_constant=_constant)
    # A NUL or an unpaired surrogate can reach a string only through a \u escape.
    if "\\u" in text:
        _check_strings(value)
    return value


def _constant(name: str) -> object:
    raise NotStorable(f"body holds {name}, which is not JSON (Postgres refuses it)")


def _check_strings(value: object) -> None:
    # A loop, not recursion: json.loads took the body's depth, and so must this.
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and not storable(node):
            raise NotStorable(
                "body is JSON with a \\u0000 or an unpaired surrogate, which Postgres refuses"
            )
