"""Erasure covers the SMS ledger and the inbox's sms.created rows: no number of the person left."""

from __future__ import annotations

import copy

import psycopg
import pytest
from click.testing import CliRunner

from tests.support.bodies import STORY, fixture_body
from tests.worker.mirror import helpers
from tests.worker.mirror.helpers import deliver, drain, put
from tests.worker.privacy.helpers import traces, with_and_without_plus
from worker.cli.main import main
from worker.privacy import erase

ADA = "user_2pAdaExample0000000000001"
ADA_NUMBERS = with_and_without_plus({"+12025550143", "+447700900123"})
SIGN_UP_NUMBER = with_and_without_plus({"+447781123456"})
KEPT = "SELECT id, region_code, number_type, created_at FROM clerk.sms_messages ORDER BY id"


@pytest.fixture(autouse=True)
def pii_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helpers, "PII_KEY", b"a-test-key-that-is-long-enough-0123456789")


def ada_with_sends(conn: psycopg.Connection) -> None:
    deliver(conn, [(name, f"msg_{i}") for i, name in enumerate(STORY[:5])])
    put(conn, "sms.created__verification_code", "msg_sms_1")
    # A send before the sign-up finished: no user id yet, to a number Ada holds.
    early = copy.deepcopy(fixture_body("sms.created__verification_code"))
    early["data"].update(id="sms_2pSmsAdaEarly000000000001", user_id=None, phone_number_id=None)
    put(conn, early, "msg_sms_early")
    put(conn, "sms.created__sign_up_no_user", "msg_sms_2")
    drain(conn)
    # And one not applied yet.
    pending = copy.deepcopy(fixture_body("sms.created__verification_code"))
    pending["data"]["id"] = "sms_2pSmsAdaPending0000000001"
    put(conn, pending, "msg_sms_pending")


def test_erasing_a_user_leaves_none_of_their_numbers_in_the_ledger_or_the_inbox(
    conn: psycopg.Connection,
) -> None:
    ada_with_sends(conn)
    before = {t for t, _, _ in traces(conn, ADA_NUMBERS)}
    assert {"sms_messages", "webhook_events"} <= before
    kept = conn.execute(KEPT).fetchall()

    erase.erase_users(conn, [ADA])
    drain(conn)

    assert traces(conn, ADA_NUMBERS) == []
    assert conn.execute(KEPT).fetchall() == kept
    assert conn.execute(
        "SELECT count(*) FROM clerk.sms_messages WHERE phone_number_hash IS NOT NULL"
        " OR number_prefix IS NOT NULL OR phone_number_masked IS NOT NULL"
    ).fetchone() == (1,)  # the sign-up send to someone else's number
    assert {t for t, _, _ in traces(conn, SIGN_UP_NUMBER)} == {"sms_messages", "webhook_events"}


def test_erase_phone_of_a_number_only_the_ledger_knows_forgets_it_everywhere(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    with psycopg.connect(database_url) as conn:
        ada_with_sends(conn)
    result = CliRunner().invoke(main, ["erase", "--phone", "+447781123456"])
    assert result.exit_code == 0, result.output
    assert result.output == "+44 ••••••••56: no user holds it; forgot 2 row(s) that mention it\n"
    with psycopg.connect(database_url) as conn:
        assert traces(conn, SIGN_UP_NUMBER) == []
        assert {t for t, _, _ in traces(conn, ADA_NUMBERS)} >= {"sms_messages"}


def test_erase_phone_finds_the_user_a_ledger_row_names(conn: psycopg.Connection) -> None:
    ada_with_sends(conn)
    assert erase.holders(conn, "+447700900123") == [ADA]
