"""Every id and number of an event is bounded when it is parsed, and an overlong one fails
its event readably: no memory kept for it, no index error, no dead letter.

A signed body may carry strings of any length up to the body limit (1 MiB). region_code's
cache kept each phone_number it was asked about, however long; a long id reached the
btree indexes and failed the whole write with an error that says nothing of the field.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import random
import re
import string
import tracemalloc
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.support.bodies import fixture_body
from tests.worker.mirror.helpers import drain, put
from worker.mirror import numbers
from worker.mirror.events import InvalidEvent, parse_event

# Random letters: Postgres compresses a repetitive value under the index's size limit.
LONG = "".join(random.Random(3000).choices(string.ascii_letters + string.digits, k=3_000))
Body = dict[str, Any]


def _phone(body: Body) -> Body:
    phone: Body = body["data"]["phone_numbers"][0]
    return phone


def _verification(body: Body) -> Body:
    verification: Body = _phone(body)["verification"]
    return verification


def _link(body: Body) -> Body:
    link = {"type": "oauth_google", "id": "idn_link"}
    _phone(body)["linked_to"] = [link]
    return link


# (where, the dict that holds the field, its name): each id or number the mirror stores.
FIELDS: dict[str, tuple[Callable[[Body], Body], str]] = {
    "data.id": (lambda body: body["data"], "id"),
    "data.primary_phone_number_id": (lambda body: body["data"], "primary_phone_number_id"),
    "data.phone_numbers[0].id": (_phone, "id"),
    "data.phone_numbers[0].phone_number": (_phone, "phone_number"),
    "data.phone_numbers[0].verification.status": (_verification, "status"),
    "data.phone_numbers[0].verification.strategy": (_verification, "strategy"),
    "data.phone_numbers[0].linked_to[0].type": (_link, "type"),
    "data.phone_numbers[0].linked_to[0].id": (_link, "id"),
}


def with_long(where: str, value: str = LONG) -> Body:
    body = copy.deepcopy(fixture_body("user.updated__phone_verified"))
    holder, name = FIELDS[where]
    holder(body)[name] = value
    return body


@pytest.mark.parametrize("where", list(FIELDS))
def test_an_overlong_field_is_refused_at_parse_naming_it(where: str) -> None:
    with pytest.raises(InvalidEvent, match=rf"^{re.escape(where)} "):
        parse_event("msg_long", with_long(where))


def test_long_phone_numbers_leave_no_memory_behind() -> None:
    numbers.forget()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100):
            number = f"+1{i:03d}" + "5" * 100_000  # 10 MB of numbers in all
            with contextlib.suppress(InvalidEvent):
                parse_event(f"msg_{i}", with_long("data.phone_numbers[0].phone_number", number))
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        numbers.forget()
    assert kept < 1_000_000, f"{kept} bytes kept"


def test_an_id_too_long_for_an_index_fails_its_event_once_with_a_clear_error(
    conn: psycopg.Connection,
) -> None:
    where = "data.primary_phone_number_id"  # indexed: users_primary_phone_number_idx
    put(conn, with_long(where), "msg_long")
    drain(conn)
    status, error, attempts = conn.execute(
        "SELECT status, last_error, attempts FROM clerk.webhook_events WHERE svix_id = 'msg_long'"
    ).fetchone() or (None, None, None)
    assert (status, attempts) == ("failed", 1)
    assert error is not None
    assert error.startswith(f"{where} ")
    assert "index" not in error


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("data.phone_numbers[0].phone_number", "+442079460958"),
        ("data.id", "user_" + "a" * 250),
        ("data.phone_numbers[0].verification.strategy", "phone_code"),
    ],
)
def test_real_values_still_parse(where: str, value: str) -> None:
    assert parse_event("msg_ok", with_long(where, value)) is not None
