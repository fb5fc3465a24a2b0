"""The console through Flask's test client: off by default, guarded, never a raw number."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from flask.testing import FlaskClient

from tests.support.bodies import fixture_body
from tests.support.signing import sign
from tests.webhooks.console_helpers import (
    DEAD_ID,
    PASSWORD,
    console_app,
    csrf,
    log_in,
    raw_numbers_in,
    seed,
    sign_in,
)
from webhooks.console import masking, queries, reports
from worker.operators import throttle


@pytest.fixture
def console(database_url: str, redis_url: str) -> Iterator[FlaskClient]:
    seed(database_url)
    app = console_app(database_url, redis_url)
    yield app.test_client()
    app.extensions["clerk_mirror"].close()


def status_of(database_url: str, svix_id: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT status FROM clerk.webhook_events WHERE svix_id = %s", (svix_id,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_console_answers_404_without_a_password(client: FlaskClient) -> None:
    for path in ("/console/", "/console/login", "/console/events"):
        assert client.get(path).status_code == 404
    assert client.post("/console/login", data={"password": ""}).status_code == 404


def test_pages_need_a_log_in(console: FlaskClient) -> None:
    for path in ("/console/", "/console/events", f"/console/events/{DEAD_ID}", "/console/reports"):
        answer = console.get(path)
        assert answer.status_code == 302
        assert answer.headers["Location"].startswith("/console/login")


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_account_out(
    console: FlaskClient,
) -> None:
    for _ in range(throttle.ACCOUNT.amount):
        assert log_in(console, "guess") == 401
    # Even the right password is not checked while the account is locked for new browsers.
    token = csrf(console)
    form = {"password": PASSWORD, "csrf_token": token}
    locked = console.post("/console/login", data=form)
    assert locked.status_code == 429
    assert "try again in" in locked.text


def test_posts_without_the_csrf_token_are_refused(console: FlaskClient, database_url: str) -> None:
    csrf(console)
    assert console.post("/console/login", data={"password": PASSWORD}).status_code == 400
    sign_in(console)
    replay = console.post(f"/console/events/{DEAD_ID}/replay", data={"csrf_token": "forged"})
    assert replay.status_code == 400
    assert status_of(database_url, DEAD_ID) == "dead"


def test_replay_applies_the_event_and_shows_the_outcome(
    console: FlaskClient, database_url: str
) -> None:
    token = sign_in(console)
    answer = console.post(
        f"/console/events/{DEAD_ID}/replay", data={"csrf_token": token}, follow_redirects=True
    )
    assert "1 processed" in answer.text
    assert status_of(database_url, DEAD_ID) == "processed"


def test_a_session_ends_when_the_password_changes(database_url: str, redis_url: str) -> None:
    shared = {"CLERK_MIRROR_QUEUE": f"cpm_test_{uuid.uuid4().hex[:12]}"}
    first = console_app(database_url, redis_url, **shared)
    second = console_app(database_url, redis_url, CLERK_MIRROR_CONSOLE_PASSWORD="new", **shared)
    try:
        client = first.test_client()
        sign_in(client)
        assert client.get("/console/").status_code == 200
        cookie = client.get_cookie("clerk_mirror_console", path="/console")
        assert cookie is not None
        other = second.test_client()
        other.set_cookie("clerk_mirror_console", cookie.value, path="/console")
        assert other.get("/console/").status_code == 302
        # The same session, in a process that still has the old password, is in.
        again = first.test_client()
        again.set_cookie("clerk_mirror_console", cookie.value, path="/console")
        assert again.get("/console/").status_code == 200
    finally:
        first.extensions["clerk_mirror"].close()
        second.extensions["clerk_mirror"].close()


def test_log_in_never_redirects_off_the_console(console: FlaskClient) -> None:
    token = csrf(console)
    answer = console.post(
        "/console/login?next=//evil.example/console/",
        data={"password": PASSWORD, "csrf_token": token},
    )
    assert answer.headers["Location"] == "/console/"


def test_no_page_shows_a_raw_phone_number(console: FlaskClient) -> None:
    sign_in(console)
    paths = [
        "/console/",
        "/console/events",
        "/console/events?status=dead&window=24h",
        "/console/reports?as_of=2030-01-01T00:00",
        *(f"/console/events/{i}" for i in ("msg_a1", "msg_a2", "msg_a3", DEAD_ID)),
    ]
    for path in paths:
        answer = console.get(path)
        assert answer.status_code == 200, path
        assert not raw_numbers_in(answer.text), path
    # As-of shows the mirror's own masked column (migration 0007), never the number.
    assert "+1 ••••••••43" in console.get("/console/reports?as_of=2030-01-01").text


def test_events_filter_by_status_type_and_user(console: FlaskClient) -> None:
    sign_in(console)
    dead = console.get("/console/events?status=dead").text
    assert DEAD_ID in dead
    assert "msg_a1" not in dead
    other_user = console.get("/console/events?user_id=user_nobody").text
    assert "no events match" in other_user
    assert console.get("/console/events?status=lost").status_code == 400
    assert console.get("/console/events?since=yesterday").status_code == 400
    assert console.get("/console/reports?as_of=yesterday").status_code == 400
    assert console.get("/console/events/msg_nope").status_code == 404


def test_the_console_lists_every_report_view(conn: psycopg.Connection) -> None:
    in_database = {row[0] for row in conn.execute(queries.REPORT_VIEWS)}
    assert in_database
    assert {f"report_{v.name}" for v in reports.VIEWS} == in_database


def test_the_overview_says_postgres_is_failing_when_it_is_down(redis_url: str) -> None:
    app = console_app("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1", redis_url)
    app.config["POOL_TIMEOUT"] = 0.5
    try:
        client = app.test_client()
        assert log_in(client) == 302  # the shared password needs no database
        answer = client.get("/console/")
        assert answer.status_code == 503
        assert "failing" in answer.text
    finally:
        app.extensions["clerk_mirror"].close()


def test_payload_masking_shows_ids_and_states_and_hides_personal_fields() -> None:
    body = fixture_body("user.updated__second_phone_expired")
    body["data"]["public_metadata"] = {"phone": "+12025550143"}
    body["data"]["external_id"] = "ada@example.com"
    shown = json.loads(masking.payload(json.dumps(body).encode()))
    phone = shown["data"]["phone_numbers"][0]
    assert phone["phone_number"] == "+1 ••••••••43"
    assert phone["id"] == body["data"]["phone_numbers"][0]["id"]
    assert (
        phone["verification"]["status"]
        == body["data"]["phone_numbers"][0]["verification"]["status"]
    )
    assert shown["data"]["email_addresses"][0]["email_address"] == masking.HIDDEN
    assert shown["data"]["first_name"] in (masking.HIDDEN, None)
    assert shown["data"]["public_metadata"] == masking.HIDDEN
    assert shown["data"]["external_id"] == masking.HIDDEN
    assert shown["type"] == body["type"]
    assert shown["data"]["updated_at"] == body["data"]["updated_at"]


def test_payload_masking_names_purged_and_non_json_payloads() -> None:
    assert "purged" in masking.payload(None)
    assert "not JSON" in masking.payload(b"+12025550143 not json")
    assert masking.phone("not a number") == masking.HIDDEN


def test_with_redis_down_the_console_says_so_and_webhooks_are_still_stored(
    database_url: str,
) -> None:
    app = console_app(database_url, "redis://127.0.0.1:1/0")
    try:
        client = app.test_client()
        page = client.get("/console/login")
        assert page.status_code == 503
        assert "Redis is unavailable" in page.text
        client.set_cookie("clerk_mirror_console", "a" * 43, path="/console")
        assert client.get("/console/").status_code == 503
        body = json.dumps(fixture_body("user.created__unverified_phone")).encode()
        stored = client.post("/webhooks/clerk", data=body, headers=sign(body, "msg_redis_down"))
        assert stored.status_code == 200
    finally:
        app.extensions["clerk_mirror"].close()
