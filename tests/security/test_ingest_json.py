"""The endpoint stores only JSON that Postgres reads too: the analysts' query never breaks.

The inbox keeps each body as received (bytea); `convert_from(payload, 'UTF8')::jsonb` is
how an analyst queries it, over the whole table. One accepted body that jsonb refuses
breaks that query for every row. Python's json reads more than jsonb does: NaN and
Infinity, \\u0000, unpaired surrogates, a byte-order mark. Clerk sends none of these; a
signed body holding one is refused with 400 and nothing is stored. (A body that is not
UTF-8 cannot carry a valid signature: svix verifies text.)
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import psycopg
import pytest
from flask.testing import FlaskClient

from tests.support.bodies import fixture_body
from tests.support.signing import TEST_SECRET, sign
from webhooks import create_app

URL = "/webhooks/clerk"
ANALYST_QUERY = "SELECT convert_from(payload, 'UTF8')::jsonb FROM clerk.webhook_events"
_ids = itertools.count()


def body_with(raw_value: str, key: str = "note") -> bytes:
    """A real event with raw JSON text put in as one value of its public metadata."""
    text = json.dumps(fixture_body("user.updated__phone_verified"))
    metadata = f'"public_metadata": {{"{key}": {raw_value}}}'
    return text.replace('"public_metadata": {}', metadata, 1).encode()


REFUSED = {
    "NaN": body_with("NaN"),
    "Infinity": body_with("Infinity"),
    "-Infinity": body_with("-Infinity"),
    "NUL in a value": body_with('"a\\u0000b"'),
    "NUL in a key": body_with("1", key="a\\u0000b"),
    "lone high surrogate": body_with('"\\ud800"'),
    "lone low surrogate in a key": body_with("1", key="\\udfff"),
    "byte-order mark": b"\xef\xbb\xbf" + body_with("1"),
}
ACCEPTED = {
    "escaped accent": body_with('"caf\\u00e9"'),
    "paired surrogates": body_with('"\\ud83d\\ude00"'),
    "raw emoji": body_with('"😀"'),
    "a big number": body_with("1e400"),
    "an escaped backslash before u0000": body_with('"\\\\u0000"'),
}


@pytest.fixture
def client(database_url: str, redis_url: str, queue_name: str) -> Iterator[FlaskClient]:
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
            "CLERK_MIRROR_QUEUE": queue_name,
        }
    )
    yield app.test_client()
    app.extensions["clerk_mirror"].close()


@pytest.fixture
def inbox(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def post(client: FlaskClient, body: bytes) -> tuple[int, str]:
    svix_id = f"msg_strict_{next(_ids)}"
    answer = client.post(URL, data=body, headers=sign(body, svix_id))
    return answer.status_code, answer.get_json()["error"] if answer.status_code != 200 else ""


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_body_jsonb_cannot_read_is_refused_with_400_and_not_stored(
    client: FlaskClient, inbox: psycopg.Connection, case: str
) -> None:
    status, error = post(client, REFUSED[case])
    assert status == 400, case
    assert "JSON" in error
    assert inbox.execute("SELECT count(*) FROM clerk.webhook_events").fetchone() == (0,)


def test_the_analysts_query_reads_every_stored_body(
    client: FlaskClient, inbox: psycopg.Connection
) -> None:
    for body in [*REFUSED.values(), *ACCEPTED.values()]:
        post(client, body)
    stored = inbox.execute(ANALYST_QUERY).fetchall()
    assert len(stored) == len(ACCEPTED)
    notes = {row[0]["data"]["public_metadata"]["note"] for row in stored}
    assert notes >= {"café", "😀", "\\u0000"}
