"""Bad input at the endpoint: never a 5xx, and nothing stored for a refusal."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import mutations
from tests.support.bodies import fixture_body
from tests.support.settings import hand_tasks
from tests.support.signing import sign
from worker import db, tasks

URL = "/webhooks/clerk"
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_ids = itertools.count()


@pytest.fixture
def inbox(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def stored(inbox: psycopg.Connection, svix_id: str | None = None) -> int:
    """Inbox rows with this svix-id, or all of them (a refused id may not even be text)."""
    row = inbox.execute(
        "SELECT count(*) FROM clerk.webhook_events WHERE %(id)s::text IS NULL OR svix_id = %(id)s",
        {"id": svix_id},
    ).fetchone()
    return int(row[0]) if row else 0


def post_signed(
    client: FlaskClient, inbox: psycopg.Connection, body: bytes, svix_id: str = ""
) -> int:
    """POST a signed body and check the endpoint's promises; return the status."""
    svix_id = svix_id or f"bad_{next(_ids)}"
    try:
        headers = sign(body, svix_id)
    except UnicodeDecodeError:  # svix signs text; a sender of other bytes cannot sign them
        headers = {**sign(b"", svix_id), "svix-signature": "v1,AAAA"}
    before = stored(inbox)
    status = client.post(URL, data=body, headers=headers).status_code
    assert status in (200, 400, 401, 413), status
    if status == 200:
        assert stored(inbox, svix_id) == 1
    else:
        assert stored(inbox) == before
    return status


@PROPERTY
@given(body=st.binary(max_size=2000))
def test_random_bytes_are_refused_with_4xx_and_never_stored(
    client: FlaskClient, inbox: psycopg.Connection, body: bytes
) -> None:
    assert post_signed(client, inbox, body) in (400, 401)


@PROPERTY
@given(body=mutations.mutated_bodies())
def test_mutated_signed_events_are_stored_or_refused_never_5xx(
    client: FlaskClient, inbox: psycopg.Connection, body: dict[str, Any]
) -> None:
    post_signed(client, inbox, mutations.encode(body))


@PROPERTY
@given(svix_id=st.text(st.characters(max_codepoint=255, blacklist_characters="\r\n"), max_size=300))
def test_any_svix_id_is_stored_or_refused_never_5xx(
    client: FlaskClient, inbox: psycopg.Connection, svix_id: str
) -> None:
    body = mutations.encode(fixture_body("user.deleted"))
    if svix_id.strip():
        post_signed(client, inbox, body, svix_id)


@pytest.mark.parametrize("depth", [50, 900, 10_000, 100_000])
def test_deeply_nested_field_is_stored_or_refused_never_5xx(
    client: FlaskClient, inbox: psycopg.Connection, depth: int
) -> None:
    raw = mutations.with_nested_field(fixture_body("user.updated__phone_verified"), depth)
    assert post_signed(client, inbox, raw) in (200, 400, 413)


def test_huge_phone_array_is_stored(client: FlaskClient, inbox: psycopg.Connection) -> None:
    body = fixture_body("user.updated__phone_verified")
    body["data"]["phone_numbers"] = mutations.phone_list(5_000)
    assert post_signed(client, inbox, mutations.encode(body)) == 200


@pytest.mark.slow
def test_fuzzed_bodies_never_5xx_and_every_stored_event_ends_applied_or_failed(
    client: FlaskClient,
    inbox: psycopg.Connection,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(20250101)
    statuses = [post_signed(client, inbox, mutations.random_mutation(rng)) for _ in range(2_000)]
    assert statuses.count(200) > 500
    hand_tasks(monkeypatch, DATABASE_URL=database_url)
    db.close_pool()
    try:
        while tasks.apply_batch().claimed:
            pass
    finally:
        db.close_pool()
    with psycopg.connect(database_url) as conn:
        left = conn.execute(
            "SELECT status, count(*), bool_and(last_error <> '') FILTER (WHERE status = 'failed')"
            " FROM clerk.webhook_events GROUP BY status ORDER BY status"
        ).fetchall()
    by_status = {status: (count, readable) for status, count, readable in left}
    assert set(by_status) <= {"processed", "ignored", "failed"}, by_status
    assert by_status["failed"][1] is True
