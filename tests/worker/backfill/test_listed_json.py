"""A backfilled user's inbox body holds the user's JSON as Clerk listed it, under the
webhooks' rule: only JSON that Postgres's jsonb reads too.

The analysts query every body with convert_from(payload, 'UTF8')::jsonb; one body that
jsonb refuses breaks that query for every row. Encoding a parsed user anew changed what
Clerk wrote: a number past a float's range (1e400, which jsonb keeps) came back as
Infinity, which jsonb refuses. A user whose own JSON jsonb would refuse (NaN, a \\u0000,
an unpaired surrogate: Clerk sends none) is refused as the endpoint refuses such a body,
at the cost of that user alone.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from worker.backfill import run as backfill
from worker.backfill.clerk_api import ClerkAPIError, ClerkClient, Listed, listed
from worker.backfill.fake_clerk import Encoded, FakeClerk
from worker.backfill.fake_users import generate_users
from worker.mirror.replay import replay

KEY = "sk_test_listed_json"
ANALYST_QUERY = "SELECT convert_from(payload, 'UTF8')::jsonb FROM clerk.webhook_events"
# Placeholders in a user's public_metadata, written into the page as this raw JSON.
RAW = {
    "@big": "1e400",
    "@precise": "0.1000000000000000055511151231257827",
    "@escaped": '"caf\\u00e9 \\ud83d\\ude00"',
    "@nan": "NaN",
    "@nul": '"a\\u0000b"',
    "@surrogate": '"\\udfff"',
}


@pytest.fixture
def fake() -> Iterator[FakeClerk]:
    with FakeClerk(key=KEY) as server:
        answer = server.answer

        def raw_answer(path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
            status, body = answer(path, query)
            if path.endswith("/users") and isinstance(body, list):
                text = json.dumps(body)
                for placeholder, raw in RAW.items():
                    text = text.replace(json.dumps(placeholder), raw)
                return status, Encoded(text.encode())
            return status, body

        server.answer = raw_answer  # type: ignore[method-assign]
        yield server


def api(fake: FakeClerk) -> ClerkClient:
    return ClerkClient(fake.url, KEY, rate_limit=None, max_attempts=3)


def inbox(database_url: str) -> dict[str, tuple[str, str | None, bytes | None]]:
    """Each user's inbox row: status, last_error, payload."""
    with psycopg.connect(database_url) as conn:
        conn.execute(ANALYST_QUERY).fetchall()  # every body, as an analyst reads them
        rows = conn.execute(
            "SELECT user_id, status, last_error, payload FROM clerk.webhook_events"
        ).fetchall()
    return {user_id: (status, error, payload) for user_id, status, error, payload in rows}


def test_each_body_holds_the_users_json_as_listed_and_postgres_reads_them_all(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(40, seed=31)
    odd = fake.users[7]
    odd["public_metadata"] = {"big": "@big", "precise": "@precise", "name": "@escaped"}
    with api(fake) as client:
        pages = [client.list_page(None, 25), client.list_page(fake.users[24]["id"], 25)]
        run = backfill.run(database_url, client, page_size=25)

    assert (run["status"], run["users_seen"], run["users_changed"]) == ("succeeded", 40, 40)
    rows = inbox(database_url)
    assert {status for status, _, _ in rows.values()} == {"processed"}
    for user, text, refused in pages[0] + pages[1]:
        assert refused is None
        _, _, payload = rows[user["id"]]
        assert payload is not None
        body = json.loads(payload)
        head = '{"object":"event","type":"user.updated","timestamp":%d,"data":'
        assert payload == (head % body["timestamp"] + str(text) + "}").encode()
    with psycopg.connect(database_url) as conn:
        metadata = conn.execute(
            "SELECT convert_from(payload, 'UTF8')::jsonb -> 'data' -> 'public_metadata'"
            " FROM clerk.webhook_events WHERE user_id = %s",
            [odd["id"]],
        ).fetchone()
    assert metadata == (
        {
            "big": 10**400,
            "precise": pytest.approx(0.1),
            "name": "café 😀",
        },
    )


@pytest.mark.parametrize(
    ("placeholder", "reason"),
    [
        ("@nan", "holds NaN, which is not JSON (Postgres refuses it)"),
        ("@nul", "is JSON with a \\u0000 or an unpaired surrogate, which Postgres refuses"),
        ("@surrogate", "is JSON with a \\u0000 or an unpaired surrogate, which Postgres refuses"),
    ],
)
def test_a_user_whose_json_postgres_refuses_is_stored_failed_without_it(
    database_url: str, fake: FakeClerk, placeholder: str, reason: str
) -> None:
    fake.users = generate_users(30, seed=32)
    refused = fake.users[12]
    refused["public_metadata"] = {"note": placeholder}
    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=10)

    assert (run["status"], run["users_seen"], run["users_changed"]) == ("succeeded", 30, 29)
    rows = inbox(database_url)
    assert rows.pop(refused["id"]) == ("failed", f"not stored: the user's JSON {reason}", None)
    assert {status for status, _, _ in rows.values()} == {"processed"}
    with psycopg.connect(database_url) as conn:
        mirrored = {r[0] for r in conn.execute("SELECT id FROM clerk.users").fetchall()}
    assert mirrored == {u["id"] for u in fake.users} - {refused["id"]}

    # A redrive leaves a row without a body alone: there is nothing to apply.
    svix_id = f"backfill_{refused['id']}_{refused['updated_at']}"
    with psycopg.connect(database_url) as conn:
        outcome = replay(conn, [svix_id])
        left = conn.execute(
            "SELECT status, payload FROM clerk.webhook_events WHERE svix_id = %s", [svix_id]
        ).fetchone()
        users = conn.execute("SELECT count(*) FROM clerk.users WHERE id = %s", [refused["id"]])
        assert (outcome.requeued, left, users.fetchone()) == (0, ("failed", None), (0,))


def test_listed_reads_any_page_layout_as_json_loads_does() -> None:
    users = generate_users(20, seed=33)
    users[3]["public_metadata"] = {"nested": [{"a": [1, 2.5, None, True]}, "x,]}"], "e": "é"}
    rng = random.Random(33)
    for layout in (
        {},
        {"separators": (",", ":")},
        {"indent": 2},
        {"indent": "\t", "ensure_ascii": False},
    ):
        text = json.dumps(users, **layout)  # type: ignore[arg-type]
        page = listed(text)
        assert [item.user for item in page] == json.loads(text) == users
        for item in page:
            assert item.refused is None
            assert json.loads(str(item.text)) == item.user
            assert str(item.text) in text
        pick = rng.randrange(len(users))
        assert page[pick] == Listed(users[pick], page[pick].text, None)
    assert listed(" [ ] \n") == []


@pytest.mark.parametrize(
    "text", ["", "{}", "[1,]", "[1 2]", "[1] x", "[", "[1", '{"data": []}', "null", "[1]]"]
)
def test_listed_refuses_what_is_not_one_json_array(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  # json's own messages differ by case
        listed(text)


def test_a_page_that_is_not_a_list_is_an_error_saying_what_came(fake: FakeClerk) -> None:
    fake.answer = lambda path, query: (200, {"users": []})  # type: ignore[method-assign]
    with api(fake) as client, pytest.raises(ClerkAPIError, match="an object with users"):
        client.list_page(None, 10)
