"""No one-time code is kept: not by the inbox, the mirror, the ledger, nor the logs.

Every event type goes through the real endpoint (real svix signatures) and the worker;
then every text, jsonb and bytea column of the schema and every log record are searched.
"""

from __future__ import annotations

import json
import logging

import psycopg
import pytest
from flask.testing import FlaskClient

from tests.support.bodies import STORY, fixture_body
from tests.support.signing import sign
from tests.worker.privacy.helpers import traces
from worker.mirror import apply as mirror

URL = "/webhooks/clerk"
CODES = {"482913", "731406", "590217", "118822"}
MESSAGES = {"is your verification code", "Your code is"}


def every_event_type() -> list[tuple[str, dict[str, object]]]:
    names = [
        *STORY[:5],
        "session.created__ignored",
        "sms.created__verification_code",
        "sms.created__sign_up_no_user",
        "email.created__verification_code",
    ]
    bodies = [(name, fixture_body(name)) for name in names]
    # A type the mirror has never heard of, with a code in it.
    other = fixture_body("session.created__ignored")
    other["type"] = "organization.invitation.created"
    other["data"]["note"] = "118822 is your verification code"
    return [*bodies, ("other", other)]


def test_no_code_of_any_event_type_is_in_any_table_column_or_log(
    client: FlaskClient, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for i, (_name, body) in enumerate(every_event_type()):
        raw = json.dumps(body).encode()
        assert client.post(URL, data=raw, headers=sign(raw, f"msg_{i}")).status_code == 200
    with psycopg.connect(database_url) as conn:
        while mirror.apply_pending(conn).claimed:
            conn.commit()
        conn.commit()
        assert conn.execute("SELECT count(*) FROM clerk.sms_messages").fetchone() == (2,)
        assert traces(conn, CODES | MESSAGES) == []
        kept = conn.execute(
            "SELECT event_type, payload IS NOT NULL FROM clerk.webhook_events"
            " WHERE event_type NOT LIKE 'user.%' ORDER BY svix_id"
        ).fetchall()
    assert kept == [
        ("session.created", False),
        ("sms.created", True),
        ("sms.created", True),
        ("email.created", False),
        ("organization.invitation.created", False),
    ]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records
    assert not [code for code in CODES if code in logged]


def test_a_type_the_mirror_does_not_apply_keeps_its_row_but_no_body(
    client: FlaskClient, database_url: str
) -> None:
    raw = json.dumps(fixture_body("email.created__verification_code")).encode()
    for _ in range(2):
        response = client.post(URL, data=raw, headers=sign(raw, "msg_email"))
        assert response.status_code == 200
    assert response.get_json()["duplicate"] is True
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT event_type, status, payload, event_ms, received_at IS NOT NULL,"
            " processed_at IS NOT NULL FROM clerk.webhook_events"
        ).fetchall()
    assert row == [("email.created", "ignored", None, 1735776000100, True, True)]
