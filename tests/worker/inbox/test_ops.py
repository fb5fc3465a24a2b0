"""Operator actions: replay is harmless and redrives dead events; purge keeps the mirror."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.support.bodies import STORY
from tests.worker.mirror.helpers import deliver, drain, mirror_state, put, statuses
from tests.worker.test_retries import BOB, bob_event
from worker.inbox import ops, queries
from worker.mirror.replay import replay

IN_ORDER = [(name, f"msg_{i}") for i, name in enumerate(STORY)]


def everything(conn: psycopg.Connection) -> dict[str, Any]:
    """The mirror plus history down to its ids and recording times."""
    history = conn.execute(
        "SELECT * FROM clerk.phone_number_history ORDER BY history_id"
    ).fetchall()
    return {**mirror_state(conn), "raw_history": history}


def test_replaying_processed_events_changes_neither_mirror_nor_history(
    conn: psycopg.Connection,
) -> None:
    deliver(conn, IN_ORDER)
    before = everything(conn)
    ids = [svix_id for _, svix_id in IN_ORDER]
    rng = random.Random(3)
    for _ in range(5):
        subset = rng.sample(ids, rng.randint(1, len(ids)))
        outcome = replay(conn, subset)
        assert (outcome.requeued, outcome.processed, outcome.skipped) == (len(subset),) * 2 + (0,)
        assert everything(conn) == before
    assert set(statuses(conn).values()) == {"processed"}


def test_replaying_a_dead_event_after_the_fix_applies_it(
    conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(conn, bob_event(), "bob")
    conn.execute(
        "UPDATE clerk.webhook_events SET status = 'dead', attempts = 5, last_error = 'boom'"
    )
    matches = ops.select_events(conn, ops.Selection(statuses=("dead",)))
    assert matches.ids == ["bob"]

    outcome = replay(conn, matches.ids)

    assert (outcome.requeued, outcome.processed) == (1, 1)
    row = conn.execute("SELECT status, last_error, attempts FROM clerk.webhook_events").fetchone()
    assert row == ("processed", None, 1)
    assert conn.execute("SELECT id FROM clerk.users").fetchall() == [(BOB,)]


def test_selection_filters_by_id_status_type_and_received_window(
    conn: psycopg.Connection,
) -> None:
    put(conn, STORY[0], "a")
    put(conn, STORY[1], "b")
    put(conn, "session.created__ignored", "s")
    conn.execute(
        "UPDATE clerk.webhook_events SET received_at = timestamptz '2026-01-01Z'"
        " + (ascii(svix_id) - 97) * interval '1 day'"
    )
    drain(conn)

    def matches(**filters: Any) -> ops.Matches:
        return ops.select_events(conn, ops.Selection(**filters))

    def select(**filters: Any) -> list[str]:
        found = matches(**filters)
        return sorted(found.ids + found.purged)

    # A type the mirror does not apply is kept without its body: nothing to replay.
    assert matches(svix_ids=("b", "s", "missing")).ids == ["b"]
    assert matches(svix_ids=("b", "s", "missing")).purged == ["s"]
    assert select(statuses=("ignored",)) == ["s"]
    assert select(types=("user.updated", "user.created")) == ["a", "b"]
    start = datetime(2026, 1, 2, tzinfo=UTC)
    assert select(since=start) == ["b", "s"]
    assert select(since=start, until=start + timedelta(days=1)) == ["b"]
    assert select(statuses=("processed",), until=start) == ["a"]


def test_status_counts_by_status_and_reports_lag_and_last_event(conn: psycopg.Connection) -> None:
    empty = ops.inbox_status(conn)
    assert (empty.counts["pending"], empty.oldest_pending_age, empty.last_received) == (
        0,
        None,
        None,
    )
    deliver(conn, IN_ORDER[:2])
    put(conn, STORY[2], "waiting")
    put(conn, "session.created__ignored", "last")
    conn.execute(
        "UPDATE clerk.webhook_events SET received_at = now() - interval '90 s'"
        " WHERE svix_id = 'waiting'"
    )
    conn.execute(
        "UPDATE clerk.webhook_events SET received_at = now() + interval '1 s'"
        " WHERE svix_id = 'last'"
    )

    report = ops.inbox_status(conn)

    assert report.counts == {"pending": 1, "processed": 2, "ignored": 1, "failed": 0, "dead": 0}
    assert report.oldest_pending_age == timedelta(seconds=90)
    assert report.last_received is not None
    assert report.last_received["svix_id"] == "last"
    assert report.last_received["event_type"] == "session.created"
    # What /metrics scrapes: the same open counts and lag, nothing read from closed rows.
    scraped = ops.inbox_status(conn, closed=False)
    assert scraped.counts == {"pending": 1, "failed": 0, "dead": 0}
    assert (scraped.oldest_pending_age, scraped.last_received) == (timedelta(seconds=90), None)


def test_the_open_status_is_read_through_partial_indexes_only(conn: psycopg.Connection) -> None:
    # Scraped every few seconds: it must never read the closed rows, however many there are.
    conn.execute("SET LOCAL enable_seqscan = off")
    plan = conn.execute("EXPLAIN " + queries.OPEN_STATUS).fetchall()
    text = "\n".join(row[0] for row in plan)
    assert "Seq Scan" not in text
    # "Index Only Scan using ..." or "Bitmap Index Scan on ...", as the statistics decide.
    assert set(re.findall(r"\b(webhook_events_\w+(?:_idx|_pkey))\b", text)) == {
        "webhook_events_pending_idx",
        "webhook_events_unsettled_idx",
    }


def _age_closed_events(conn: psycopg.Connection, days: int) -> None:
    conn.execute(
        "UPDATE clerk.webhook_events SET processed_at = now() - make_interval(days => %s)"
        " WHERE processed_at IS NOT NULL",
        (days,),
    )


def test_purge_drops_old_closed_payloads_and_keeps_rows_mirror_and_history(
    conn: psycopg.Connection,
) -> None:
    deliver(conn, IN_ORDER[:3])
    # An SMS keeps the ledger's fields until the purge (other types keep no body at all).
    put(conn, "sms.created__verification_code", "sms")
    drain(conn)
    put(conn, bob_event(), "dead")
    conn.execute("UPDATE clerk.webhook_events SET status = 'dead' WHERE svix_id = 'dead'")
    _age_closed_events(conn, 31)
    put(conn, STORY[3], "recent")
    drain(conn)
    before = everything(conn)

    assert ops.purge(conn, timedelta(days=30), dry_run=True) == 4
    assert conn.execute(
        "SELECT count(*) FROM clerk.webhook_events WHERE payload IS NULL"
    ).fetchone() == (0,)
    assert ops.purge(conn, timedelta(days=30)) == 4

    purged = conn.execute(
        "SELECT svix_id FROM clerk.webhook_events WHERE payload IS NULL ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in purged] == ["msg_0", "msg_1", "msg_2", "sms"]
    assert len(statuses(conn)) == 6
    assert everything(conn) == before
    assert ops.purge(conn, timedelta(days=30)) == 0


def test_late_event_after_purge_refolds_from_history_as_if_payloads_were_kept(
    conn: psycopg.Connection,
) -> None:
    with conn.transaction(force_rollback=True):
        deliver(conn, IN_ORDER[:5])
        in_order = mirror_state(conn)
    late = IN_ORDER[1]
    deliver(conn, [e for e in IN_ORDER[:5] if e != late])
    _age_closed_events(conn, 31)
    assert ops.purge(conn, timedelta(days=30)) == 4
    current = mirror_state(conn)

    deliver(conn, [late])

    after = mirror_state(conn)
    assert statuses(conn)[late[1]] == "processed"
    assert (after["users"], after["phones"]) == (current["users"], current["phones"])
    assert after["history"] == in_order["history"]


def test_after_purge_a_late_and_a_newer_event_in_one_batch_both_count(
    conn: psycopg.Connection,
) -> None:
    with conn.transaction(force_rollback=True):
        deliver(conn, IN_ORDER)
        in_order = mirror_state(conn)
    late, newer = IN_ORDER[1], IN_ORDER[5]  # a verification, then user.deleted
    deliver(conn, [e for e in IN_ORDER if e not in (late, newer)])
    _age_closed_events(conn, 31)
    assert ops.purge(conn, timedelta(days=30)) == 4

    put(conn, late[0], late[1])
    put(conn, newer[0], newer[1])
    drain(conn)

    assert statuses(conn)[late[1]] == statuses(conn)[newer[1]] == "processed"
    assert mirror_state(conn) == in_order
    assert conn.execute("SELECT deleted_at IS NOT NULL FROM clerk.users").fetchall() == [(True,)]


def test_replay_skips_events_whose_payload_was_purged(conn: psycopg.Connection) -> None:
    deliver(conn, IN_ORDER[:2])
    _age_closed_events(conn, 2)
    ops.purge(conn, timedelta(days=1))
    matches = ops.select_events(conn, ops.Selection(statuses=("processed",)))
    assert (matches.ids, matches.purged) == ([], ["msg_0", "msg_1"])


@pytest.mark.parametrize(
    ("text", "age"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), (" 0d ", timedelta(0))],
)
def test_ages_are_read_in_days_or_hours(text: str, age: timedelta) -> None:
    assert ops.parse_age(text) == age


@pytest.mark.parametrize("text", ["30", "1w", "-1d", "d", "1.5d"])
def test_other_ages_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an age"):
        ops.parse_age(text)
