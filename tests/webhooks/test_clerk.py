"""POST /webhooks/clerk: real svix signatures, real Postgres; what is answered and stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient

from tests.support.bodies import fixture_body
from tests.support.signing import OTHER_SECRET, sign
from webhooks import create_app
from webhooks.clerk import refuse, stored_answer
from worker.config import ConfigError

URL = "/webhooks/clerk"


def inbox(database_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT svix_id, status FROM clerk.webhook_events ORDER BY svix_id"
        ).fetchall()


def body_of(name: str) -> bytes:
    return json.dumps(fixture_body(name)).encode()


def test_signed_event_is_stored_pending_and_answered_200(
    client: FlaskClient, database_url: str
) -> None:
    body = body_of("user.created__unverified_phone")
    response = client.post(URL, data=body, headers=sign(body, "msg_1"))
    assert response.status_code == 200
    assert inbox(database_url) == [("msg_1", "pending")]
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT payload FROM clerk.webhook_events").fetchone()
    assert row is not None
    assert bytes(row[0]) == body


def test_duplicate_svix_id_answers_200_and_stores_once(
    client: FlaskClient, database_url: str
) -> None:
    body = body_of("user.created__unverified_phone")
    for _ in range(2):
        response = client.post(URL, data=body, headers=sign(body, "msg_1"))
        assert response.status_code == 200
    assert response.get_json()["duplicate"] is True
    assert inbox(database_url) == [("msg_1", "pending")]


def test_ignored_type_is_stored_as_ignored(client: FlaskClient, database_url: str) -> None:
    body = body_of("session.created__ignored")
    assert client.post(URL, data=body, headers=sign(body, "s1")).status_code == 200
    assert inbox(database_url) == [("s1", "ignored")]


def test_any_secret_of_a_rotation_is_accepted(client: FlaskClient, database_url: str) -> None:
    body = body_of("user.deleted")
    headers = sign(body, "rotated", secret=OTHER_SECRET)
    assert client.post(URL, data=body, headers=headers).status_code == 200


def test_standard_webhooks_header_names_are_accepted(client: FlaskClient) -> None:
    body = body_of("user.deleted")
    headers = {k.replace("svix-", "webhook-"): v for k, v in sign(body, "std").items()}
    assert client.post(URL, data=body, headers=headers).status_code == 200


def _tampered(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body.replace(b"Ada", b"Eve"), sign(body, "m")


def _wrong_secret(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, sign(body, "m", secret="whsec_" + "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==")


def _stale(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, sign(body, "m", at=datetime.now(tz=UTC) - timedelta(minutes=6))


def _future(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, sign(body, "m", at=datetime.now(tz=UTC) + timedelta(minutes=6))


def _garbled_signature(body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = sign(body, "m")
    headers["svix-signature"] = "not-a-signature"
    return body, headers


def _missing(header: str):  # type: ignore[no-untyped-def]
    def make(body: bytes) -> tuple[bytes, dict[str, str]]:
        headers = sign(body, "m")
        del headers[header]
        return body, headers

    return make


def _unsigned(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"content-type": "application/json"}


def _not_json(_: bytes) -> tuple[bytes, dict[str, str]]:
    body = b"this is not json"
    return body, sign(body, "m")


def _json_not_event(_: bytes) -> tuple[bytes, dict[str, str]]:
    body = b"[1, 2, 3]"
    return body, sign(body, "m")


def _long_id(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, sign(body, "m" * 300)


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (_tampered, 401),
        (_wrong_secret, 401),
        (_stale, 401),
        (_future, 401),
        (_garbled_signature, 401),
        (_missing("svix-id"), 400),
        (_missing("svix-timestamp"), 400),
        (_missing("svix-signature"), 400),
        (_unsigned, 400),
        (_not_json, 400),
        (_json_not_event, 400),
        (_long_id, 400),
    ],
)
def test_rejected_request_gets_its_status_and_stores_nothing(
    client: FlaskClient,
    database_url: str,
    make,
    status: int,  # type: ignore[no-untyped-def]
) -> None:
    body, headers = make(body_of("user.created__unverified_phone"))
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == status
    assert "error" in response.get_json()
    assert inbox(database_url) == []


def test_oversized_body_gets_413_and_stores_nothing(client: FlaskClient, database_url: str) -> None:
    event = fixture_body("user.created__unverified_phone")
    event["data"]["public_metadata"] = {"blob": "x" * (1024 * 1024)}
    body = json.dumps(event).encode()
    response = client.post(URL, data=body, headers=sign(body, "big"))
    assert response.status_code == 413
    assert inbox(database_url) == []


def test_database_down_answers_503_with_retry_after(down_app: Flask) -> None:
    body = body_of("user.deleted")
    response = down_app.test_client().post(URL, data=body, headers=sign(body, "m"))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    ready = down_app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert "postgres" in ready.get_json()["failed"]


def test_app_refuses_to_start_without_signing_secret(database_url: str) -> None:
    with pytest.raises(ConfigError, match="CLERK_WEBHOOK_SIGNING_SECRET"):
        create_app({"DATABASE_URL": database_url})


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_the_web_pool_s_connections_come_with_the_inbox_insert_prepared(app: Flask) -> None:
    # Its first use is then no failed EXECUTE, which Postgres logs as an ERROR.
    with app.extensions["clerk_mirror"].pool.connection() as conn:
        names = conn.execute("SELECT name FROM pg_prepared_statements").fetchall()
    assert names == [("clerk_mirror_inbox_insert",)]


def test_the_web_pool_runs_in_utc_on_a_database_far_from_it(
    far_shared_db_url: str, redis_url: str, queue_name: str
) -> None:
    app = create_app(
        {
            "DATABASE_URL": far_shared_db_url,
            "REDIS_URL": redis_url,
            "CLERK_WEBHOOK_SIGNING_SECRET": OTHER_SECRET,
            "CLERK_MIRROR_QUEUE": queue_name,
        }
    )
    runtime = app.extensions["clerk_mirror"]
    try:
        with runtime.pool.connection() as conn:
            zone = conn.execute("SELECT current_setting('TimeZone')").fetchone()
        assert zone == ("UTC",)
    finally:
        runtime.close()


@pytest.mark.parametrize("svix_id", ["msg_1", 'msg_"quoted"\\', "msg_é✓\u2028"])
@pytest.mark.parametrize("duplicate", [False, True])
def test_the_200_answer_is_jsonify_to_the_byte(svix_id: str, duplicate: bool) -> None:
    with Flask("answer").app_context():
        expected = jsonify(svix_id=svix_id, duplicate=duplicate)
    assert stored_answer(svix_id, duplicate=duplicate) == expected.get_data()


@pytest.mark.parametrize("message", ["svix-id is too long", 'a "quoted" é✓ reason'])
def test_a_refusal_is_jsonify_to_the_byte(message: str) -> None:
    with Flask("answer").app_context():
        expected = jsonify(error=message)
    assert refuse({}, 400, message)[1] == expected.get_data()


def test_answers_carry_json_headers_and_other_methods_get_405(
    client: FlaskClient, database_url: str
) -> None:
    body = body_of("user.deleted")
    response = client.post(URL, data=body, headers=sign(body, "m"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Content-Length"] == str(len(response.get_data()))
    assert response.get_json() == {"duplicate": False, "svix_id": "m"}
    for method in ("GET", "PUT", "HEAD"):
        refused = client.open(URL, method=method, data=body, headers=sign(body, "n"))
        assert refused.status_code == 405
        assert refused.headers["Allow"] == "POST"
    assert client.post(URL + "/", data=body, headers=sign(body, "o")).status_code == 404
    assert inbox(database_url) == [("m", "pending")]
