"""Bad input made from good: fixture bodies with one value replaced, removed or blown up."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from hypothesis import strategies as st

from tests.support.bodies import STORY, fixture_body

Path = tuple[str | int, ...]
MISSING = object()

# One value of each JSON type, and the edges of each: the 'wrong type' of any field.
WRONG_TYPES: tuple[Any, ...] = (
    None,
    0,
    2**70,
    -(2**70),
    -1,
    1.5,
    -0.0,
    1e308,
    "",
    "x",
    "2025-01-01T00:00:00Z",
    [],
    [1, "a"],
    {},
    {"id": 1},
    True,
    False,
)
UNICODE = ("😀👩‍👩‍👧", "مرحبا", "\u202eevil", "\ud800", "\udfff", "a\u0000b", "\u0000", "\x7f" * 3)
NAMES = (*STORY, "session.created__ignored", "user.updated__legacy_shape")


def paths(node: Any, prefix: Path = ()) -> list[Path]:
    """Every value's path in a body, containers included, the root excluded."""
    found: list[Path] = []
    if isinstance(node, dict | list):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            found.append((*prefix, key))
            found += paths(value, (*prefix, key))
    return found


def replaced(body: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A copy of body with the value at path replaced, or removed when value is MISSING."""
    out = copy.deepcopy(body)
    parent: Any = out
    for key in path[:-1]:
        parent = parent[key]
    if value is MISSING:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return out


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def phone_list(count: int) -> list[dict[str, Any]]:
    """Many small phone objects (the fixture's full shape would pass the 1 MiB limit)."""
    return [
        {"id": f"idn_many{i:05d}", "phone_number": f"+1202555{i:04d}", "verification": None}
        for i in range(count)
    ]


def with_nested_field(body: dict[str, Any], depth: int) -> bytes:
    """body with data.public_metadata nested depth lists deep (json.dumps would recurse)."""
    marker = "__NESTED__"
    body = replaced(body, ("data", "public_metadata"), marker)
    return encode(body).replace(b'"' + marker.encode() + b'"', b"[" * depth + b"]" * depth)


def values() -> st.SearchStrategy[Any]:
    """A replacement value: wrong types, unicode, out-of-range numbers, or nothing at all."""
    return st.one_of(
        st.sampled_from(WRONG_TYPES),
        st.sampled_from(UNICODE),
        st.just(MISSING),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(("some_new_status", "passkey_v9", "verified", "unverified", "expired")),
    )


@st.composite
def mutated_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A fixture body with one value anywhere replaced by something of another kind."""
    body = fixture_body(draw(st.sampled_from(NAMES)))
    path = draw(st.sampled_from(paths(body)))
    return replaced(body, path, draw(values()))


def encode(body: Any) -> bytes:
    # Lone surrogates leave as \ud800 escapes, NaN and Infinity as Python writes them.
    return json.dumps(body).encode()


def random_mutation(rng: random.Random) -> bytes:
    """For the seeded fuzz run: one to three mutations of a fixture, sometimes truncated."""
    body = fixture_body(rng.choice(NAMES))
    for _ in range(rng.randint(1, 3)):
        choices = paths(body)
        if not choices:
            break
        path = rng.choice(choices)
        value = rng.choice((*WRONG_TYPES, *UNICODE, MISSING, nested(rng.randint(1, 50))))
        body = replaced(body, path, value)
    raw = encode(body)
    if rng.random() < 0.05:
        raw = raw[: rng.randint(0, len(raw))]
    return raw
