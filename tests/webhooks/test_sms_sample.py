"""clerk-mirror send-sample --type sms.created: a fresh, signed send that the ledger keeps
without its code."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from click.testing import CliRunner
from flask.testing import FlaskClient

from tests.support.signing import TEST_SECRET
from worker.cli.main import main
from worker.cli.send_sample import signed_sample
from worker.mirror import apply as mirror


def test_the_sms_sample_lands_in_the_ledger_without_its_code(
    client: FlaskClient, database_url: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    for _ in range(2):
        body, headers = signed_sample("sms", TEST_SECRET, now)
        assert client.post("/webhooks/clerk", data=body, headers=headers).status_code == 200
    with psycopg.connect(database_url) as conn:
        while mirror.apply_pending(conn).claimed:
            conn.commit()
        rows = conn.execute(
            "SELECT slug, phone_number_masked, region_code, number_type, is_test_number,"
            " created_at FROM clerk.sms_messages"
        ).fetchall()
        stored = conn.execute(
            "SELECT count(*) FROM clerk.webhook_events"
            " WHERE position('482913' IN encode(payload, 'escape')) > 0"
        ).fetchone()
    # Two sends, two messages: each sample is a new one.
    assert (
        rows
        == [("verification_code", "+1 ••••••••43", "US", "fixed_line_or_mobile", True, now)] * 2
    )
    assert stored == (0,)


def test_send_sample_takes_an_event_type() -> None:
    result = CliRunner().invoke(main, ["send-sample", "--help"])
    assert "sms.created" in result.output
    bad = CliRunner().invoke(main, ["send-sample", "--type", "email.created", "--secret", "x"])
    assert bad.exit_code == 2
