"""What the inbox keeps of a body: all of user.*, the ledger's fields of sms.created, else none."""

from __future__ import annotations

import json

from tests.support.bodies import fixture_body
from worker.inbox.redact import kept


def raw(body: object) -> bytes:
    return json.dumps(body).encode()


def test_user_events_are_kept_as_received_and_other_types_not_at_all() -> None:
    user = raw(fixture_body("user.created__unverified_phone"))
    assert kept("user.created", user) == user
    assert kept("session.created", raw(fixture_body("session.created__ignored"))) is None
    assert kept("email.created", raw(fixture_body("email.created__verification_code"))) is None


def test_an_sms_keeps_scalars_under_the_ledgers_names_only() -> None:
    body = fixture_body("sms.created__sign_up_no_user")
    del body["object"]
    body["data"]["slug"] = {"message": "731406 is your verification code"}
    out = kept("sms.created", raw(body))
    assert out is not None
    assert b"731406" not in out
    assert json.loads(out) == {
        "type": "sms.created",
        "timestamp": 1735776060000,
        "data": {
            "object": "sms_message",
            "id": "sms_2pSmsSignUpExample00000001",
            "status": "queued",
            "to_phone_number": "+447781123456",
            "phone_number_id": None,
            "user_id": None,
            "delivered_by_clerk": True,
        },
    }


def test_an_sms_body_that_is_no_event_keeps_nothing() -> None:
    assert kept("sms.created", b"[1, 2]") is None
    assert kept("sms.created", b"not json") is None
    assert kept("sms.created", raw({"type": "sms.created", "data": "482913"})) is None
