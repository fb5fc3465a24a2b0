"""Erasure: a person's numbers, links and payloads go everywhere; what reports count stays."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.support.bodies import STORY, fixture_body
from tests.support.crafted import ms
from tests.worker.mirror import helpers
from tests.worker.mirror.helpers import deliver, drain, mirror_state, put, statuses
from tests.worker.privacy.helpers import searched_columns, traces, with_and_without_plus
from worker.backfill import page, sync_runs
from worker.cli.report import REPORTS
from worker.mirror.replay import replay
from worker.privacy import erase

ADA = "user_2pAdaExample0000000000001"
LEGACY = "user_2pLegacyExample000000001"
ADA_NUMBERS = with_and_without_plus({"+12025550143", "+447700900123"})
LEGACY_NUMBERS = with_and_without_plus({"+33612345678", "+819012345678"})
KEY = "a-test-key-that-is-long-enough-0123456789"
# What erasure keeps: the columns the reports count.
KEPT = (
    "SELECT phone_number_id, change, region_code, verification_status, verification_strategy,"
    " reserved_for_second_factor, default_second_factor, is_primary, effective_at"
    " FROM clerk.phone_number_history ORDER BY 1, effective_at, change"
)


@pytest.fixture(autouse=True)
def pii_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helpers, "PII_KEY", KEY.encode())


def ada_alive_with_traces(conn: psycopg.Connection) -> None:
    """Ada up to step 5 (alive, her US number removed), the legacy user, and Ada's events
    in every status: processed, ignored (a session naming her), failed, pending."""
    deliver(conn, [(name, f"msg_{i}") for i, name in enumerate(STORY[:5])])
    deliver(conn, [("user.updated__legacy_shape", "msg_legacy")])
    deliver(conn, [("session.created__ignored", "msg_session")])
    broken = fixture_body("user.updated__phone_removed")
    broken["data"]["phone_numbers"][0]["verification"] = "+447700900123"
    put(conn, broken, "msg_broken")
    drain(conn)
    put(conn, newer_snapshot(), "msg_pending")


def newer_snapshot() -> dict[str, Any]:
    body = copy.deepcopy(fixture_body("user.updated__phone_removed"))
    body["data"]["updated_at"] += 60_000
    body["timestamp"] += 60_000
    body["data"]["phone_numbers"][0]["phone_number"] = "+447700900999"
    return body


def test_erasing_a_user_leaves_no_trace_of_their_numbers_in_any_table_or_payload(
    conn: psycopg.Connection,
) -> None:
    ada_alive_with_traces(conn)
    assert statuses(conn)["msg_broken"] == "failed"
    assert statuses(conn)["msg_pending"] == "pending"
    before = traces(conn, ADA_NUMBERS | {ADA})
    assert {t for t, _, _ in before} >= {
        "phone_numbers", "phone_number_history", "phone_number_counts", "webhook_events",
    }  # fmt: skip
    assert {("webhook_events", "payload", "bytea")} <= set(searched_columns(conn))
    kept = conn.execute(KEPT).fetchall()

    [done] = erase.erase_users(conn, [ADA])
    drain(conn)

    assert done.user_id == ADA
    assert done.rows > 0
    assert traces(conn, ADA_NUMBERS) == []
    # Only ids stay: the user's row, their inbox rows, history, and the tombstone.
    assert {t for t, _, _ in traces(conn, {ADA})} <= {
        "users", "phone_numbers", "phone_number_history", "user_history", "webhook_events",
        "erased_users", "phone_facts", "user_factor_changes",
    }  # fmt: skip
    assert conn.execute(
        "SELECT count(*) FROM clerk.webhook_events"
        " WHERE payload IS NOT NULL AND svix_id <> 'msg_legacy'"
    ).fetchone() == (0,)
    assert {t for t, _, _ in traces(conn, LEGACY_NUMBERS)} >= {"phone_numbers", "webhook_events"}
    # Erasing deletes a live user, as a user.deleted would; every other fact stays.
    after = conn.execute(KEPT).fetchall()
    assert [r for r in after if r[1] != "deleted"] == [r for r in kept if r[1] != "deleted"]
    new = [r[0] for r in set(after) - set(kept)]
    assert new == ["idn_2pPhoneAdaGB00000000002"]
    assert conn.execute(
        "SELECT deleted_at IS NOT NULL FROM clerk.users WHERE id = %s", (ADA,)
    ).fetchone() == (True,)
    for report in REPORTS.values():
        conn.execute(report.sql, {"as_of": "2025-01-01T00:03:30Z", "user_id": ADA}).fetchall()
    statuses_now = statuses(conn)
    assert {statuses_now[s] for s in ("msg_broken", "msg_pending", "msg_session")} == {"ignored"}


def test_erasure_is_idempotent_and_a_second_run_changes_no_row(conn: psycopg.Connection) -> None:
    ada_alive_with_traces(conn)
    erase.erase_users(conn, [ADA])
    state = mirror_state(conn)
    assert erase.erase_users(conn, [ADA]) == [erase.Erased(ADA, 0)]
    assert mirror_state(conn) == state


def test_a_later_event_for_an_erased_user_is_stored_without_payload_and_changes_nothing(
    conn: psycopg.Connection,
) -> None:
    ada_alive_with_traces(conn)
    erase.erase_users(conn, [ADA])
    state = mirror_state(conn)
    late = copy.deepcopy(fixture_body("user.updated__phone_verified"))
    for body, svix_id in ((newer_snapshot(), "msg_after"), (late, "msg_late_after")):
        body["data"]["phone_numbers"][0]["phone_number"] = "+447700900888"
        assert put(conn, body, svix_id) is True
        assert put(conn, body, svix_id) is False
    # Stored so by the insert itself, before any worker saw it.
    query = (
        "SELECT status, payload, last_error FROM clerk.webhook_events"
        " WHERE svix_id IN ('msg_after', 'msg_late_after')"
    )
    assert conn.execute(query).fetchall() == [("ignored", None, "user erased")] * 2
    drain(conn)
    assert conn.execute(query).fetchall() == [("ignored", None, "user erased")] * 2
    assert mirror_state(conn) == state
    assert traces(conn, {"447700900888"}) == []


def test_an_event_stored_before_the_tombstone_committed_is_forgotten_by_the_worker(
    conn: psycopg.Connection,
) -> None:
    ada_alive_with_traces(conn)
    erase.erase_users(conn, [ADA])
    state = mirror_state(conn)
    # As if the web stored it while the erasure was still running: payload and pending.
    body = newer_snapshot()
    body["data"]["updated_at"] += 1
    conn.execute(
        "INSERT INTO clerk.webhook_events (svix_id, event_type, payload, user_id, version_ms,"
        " event_ms) VALUES ('msg_race', 'user.updated', %s, %s, %s, %s)",
        (json.dumps(body).encode(), ADA, body["data"]["updated_at"], body["timestamp"]),
    )
    drain(conn)
    assert conn.execute(
        "SELECT status, payload FROM clerk.webhook_events WHERE svix_id = 'msg_race'"
    ).fetchone() == ("ignored", None)
    assert mirror_state(conn) == state


def test_replay_and_backfill_never_bring_an_erased_user_back(conn: psycopg.Connection) -> None:
    ada_alive_with_traces(conn)
    erase.erase_users(conn, [ADA])
    state = mirror_state(conn)
    outcome = replay(conn, list(statuses(conn)), pii_key=helpers.PII_KEY)
    assert outcome.processed == 1  # the legacy user's event alone still has a payload
    run = sync_runs.start(conn, reconcile=False)
    listed = newer_snapshot()["data"]
    listed["updated_at"] = ms_now()
    page.apply_page(conn, run.id, [listed], after_user_id=listed["id"], pii_key=helpers.PII_KEY)
    assert mirror_state(conn) == state
    assert traces(conn, ADA_NUMBERS | with_and_without_plus({"+447700900999"})) == []


def ms_now() -> int:
    return ms(datetime.now(tz=UTC))


def test_erasing_by_number_finds_every_user_who_held_it(conn: psycopg.Connection) -> None:
    ada_alive_with_traces(conn)
    assert erase.holders(conn, "+12025550143") == [ADA]
    assert erase.holders(conn, "+447700900999") == [ADA]  # only in the pending event
    assert erase.holders(conn, "+15550000000") == []
    with pytest.raises(ValueError, match=r"not an E\.164 number") as raised:
        erase.holders(conn, "12025550143")
    assert "12025550143" not in str(raised.value)


def test_automatic_erasure_takes_users_deleted_longer_ago_than_the_days_given(
    conn: psycopg.Connection,
) -> None:
    deliver(conn, [(name, f"msg_{i}") for i, name in enumerate(STORY)])
    deliver(conn, [("user.updated__legacy_shape", "msg_legacy")])
    conn.execute(
        "UPDATE clerk.users SET deleted_at = now() - interval '10 days' WHERE id = %s", (ADA,)
    )
    assert erase.erase_deleted(conn, 30) == []
    [done] = erase.erase_deleted(conn, 7)
    assert done.user_id == ADA
    assert traces(conn, ADA_NUMBERS) == []
    assert erase.erase_deleted(conn, 0) == []
    assert conn.execute("SELECT user_id, reason FROM clerk.erased_users").fetchall() == [
        (ADA, "deleted")
    ]
