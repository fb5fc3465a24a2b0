"""The JSON a webhook body (or a listed user) must be to be stored: only what Postgres's
jsonb reads as well.

The inbox keeps each body as received, and analysts query it with
convert_from(payload, 'UTF8')::jsonb over the whole table: one stored body that jsonb
refuses breaks that query for every row. Python's json reads more than jsonb does (NaN,
Infinity, \\u0000, unpaired surrogates, a byte-order mark); Clerk sends none of these.
"""

from __future__ import annotations

import json
import re

from worker.mirror.events import storable

# Why jsonb refuses a text, after what holds it ("body ", "the user's JSON ").
CONSTANT = "holds {}, which is not JSON (Postgres refuses it)"
UNPAIRED = "is JSON with a \\u0000 or an unpaired surrogate, which Postgres refuses"
_SPACE = re.compile(r"[ \t\n\r]*")


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
    if _unpaired(text, value):
        raise NotStorable(f"body {UNPAIRED}")
    return value


def elements(text: str) -> list[tuple[object, str, str | None]]:
    """Each element of the JSON array `text`: its value, its own text as written there, and
    why Postgres's jsonb would refuse that text (None when it would not). A ValueError (or
    RecursionError) when `text` is not one JSON array.

    The texts let a caller keep each element as it came, where json.dumps of the value
    would write it anew: a number past a float's range (1e400, which jsonb keeps) came
    back as Infinity, which jsonb refuses.
    """
    constants: list[str] = []

    def constant(name: str) -> float:
        constants.append(name)
        return float(name)

    decoder = json.JSONDecoder(parse_constant=constant)
    found: list[tuple[object, str, str | None]] = []
    at = _skip(text, 0)
    if text[at : at + 1] != "[":
        raise ValueError("not a JSON array")
    at = _skip(text, at + 1)
    closed = text[at : at + 1] == "]"
    while not closed:
        seen = len(constants)
        value, end = decoder.raw_decode(text, at)
        own = text[at:end]
        refusal = None
        if len(constants) > seen:
            refusal = CONSTANT.format(constants[seen])
        elif _unpaired(own, value):
            refusal = UNPAIRED
        found.append((value, own, refusal))
        at = _skip(text, end)
        closed = text[at : at + 1] == "]"
        if not closed:
            if text[at : at + 1] != ",":
                raise ValueError("not a JSON array")
            at = _skip(text, at + 1)
    if _skip(text, at + 1) != len(text):
        raise ValueError("text after the JSON array")
    return found


def _skip(text: str, at: int) -> int:
    """Where the JSON whitespace from `at` on ends."""
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]  # matches ""


def _constant(name: str) -> object:
    raise NotStorable(f"body {CONSTANT.format(name)}")


def _unpaired(text: str, value: object) -> bool:
    """Whether a string of `value`, parsed from `text`, holds a NUL or an unpaired
    surrogate: they reach a string only through a \\u escape, so only such a text is read."""
    return "\\u" in text and not _strings_storable(value)


def _strings_storable(value: object) -> bool:
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
            return False
    return True
