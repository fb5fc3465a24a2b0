"""An apply that keeps crashing backs off, then goes dead; other users are never held up."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any, Final, LiteralString

import psycopg
import pytest
from psycopg import sql

from tests.support.bodies import fixture_body
from tests.support.settings import hand_tasks
from tests.worker.mirror.helpers import put, statuses
from worker import db, tasks
from worker.inbox import claim
from worker.mirror import apply as mirror
from worker.mirror import bulk, store
from worker.mirror.fold import UserState

BOB = "user_2pBobExample00000000000001"
BOB_PHONE = "idn_2pPhoneBob0000000000001"
ADA_EVENT = "user.created__unverified_phone"

# Test-only: writing Bob's phone sleeps far past the database's statement_timeout.
SLOW_BOB: Final[LiteralString] = """
CREATE FUNCTION public.slow_bob() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = 'idn_2pPhoneBob0000000000001' THEN PERFORM pg_sleep(30); END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER slow_bob BEFORE INSERT OR UPDATE ON clerk.phone_numbers
    FOR EACH ROW EXECUTE FUNCTION public.slow_bob();
"""


def bob_event(user_id: str = BOB, phone_id: str = BOB_PHONE) -> dict[str, Any]:
    body = fixture_body(ADA_EVENT)
    body["data"]["id"] = user_id
    body["data"]["primary_phone_number_id"] = phone_id
    body["data"]["phone_numbers"][0]["id"] = phone_id
    return body


@pytest.fixture
def bob_breaks_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writing Bob fails the way an unexpected database or code error would."""
    original = store.write_states

    def write_states(
        conn: psycopg.Connection,
        states: Iterable[UserState],
        *,
        pii_key: bytes | None,
        out: bulk.Executor | None = None,
    ) -> None:
        states = list(states)
        if any(s.user_id == BOB for s in states):
            raise RuntimeError("disk on fire while writing bob")
        original(conn, states, pii_key=pii_key, out=out)

    monkeypatch.setattr(store, "write_states", write_states)


@pytest.fixture
def bob_outlasts_statement_timeout(database_url: str) -> Iterator[str]:
    """A DBA's statement_timeout on the database, which writing Bob's phone exceeds."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SLOW_BOB)
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET statement_timeout = '300ms'").format(
                sql.Identifier(conn.info.dbname)
            )
        )
    # Opened after the ALTER, so that its connections have the timeout.
    db.open_pool(database_url)
    try:
        yield database_url
    finally:
        db.close_pool()


def _inbox_row(conn: psycopg.Connection, svix_id: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT status, attempts, last_error, next_attempt_at - now()"
        " FROM clerk.webhook_events WHERE svix_id = %s",
        (svix_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.usefixtures("bob_breaks_the_store")
def test_an_apply_that_keeps_raising_ends_dead_with_last_error_and_others_still_apply(
    worker_pool: str,
) -> None:
    with psycopg.connect(worker_pool) as conn:
        put(conn, ADA_EVENT, "ada")
        put(conn, bob_event(), "bob")
    for attempt in range(1, claim.MAX_ATTEMPTS + 1):
        result = tasks.apply_batch()
        assert result.retrying == ["bob"]
        assert result.processed == (["ada"] if attempt == 1 else [])
        with psycopg.connect(worker_pool) as conn:
            # Time passes: the backoff is over.
            conn.execute("UPDATE clerk.webhook_events SET next_attempt_at = now()")

    assert tasks.apply_batch().claimed == 0
    with psycopg.connect(worker_pool) as conn:
        status, attempts, last_error, _ = _inbox_row(conn, "bob")
        users = conn.execute("SELECT id FROM clerk.users").fetchall()
        assert statuses(conn)["ada"] == "processed"
    assert (status, attempts) == ("dead", claim.MAX_ATTEMPTS)
    assert last_error == "RuntimeError: disk on fire while writing bob"
    assert users == [("user_2pAdaExample0000000000001",)]


@pytest.mark.usefixtures("bob_breaks_the_store")
def test_backoff_doubles_and_delays_the_next_claim(conn: psycopg.Connection) -> None:
    put(conn, bob_event(), "bob")
    for attempt in range(1, claim.MAX_ATTEMPTS):
        assert mirror.apply_pending(conn).retrying == ["bob"]
        status, attempts, _, delay = _inbox_row(conn, "bob")
        assert (status, attempts) == ("pending", attempt)
        assert delay == timedelta(seconds=claim.BACKOFF_S * 2 ** (attempt - 1))
        # Not due yet: nothing to claim until the backoff is over.
        assert mirror.apply_pending(conn).claimed == 0
        conn.execute("UPDATE clerk.webhook_events SET next_attempt_at = now()")
    mirror.apply_pending(conn)
    assert _inbox_row(conn, "bob")[:2] == ("dead", claim.MAX_ATTEMPTS)


def test_sweep_wakes_a_drain_only_for_events_pending_past_the_grace(
    worker_pool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    woken: list[bool] = []
    monkeypatch.setattr(tasks.drain, "delay", lambda: woken.append(True))
    hand_tasks(monkeypatch, CLERK_MIRROR_SWEEP_GRACE="60")
    with psycopg.connect(worker_pool) as conn:
        put(conn, ADA_EVENT, "ada")
    assert (tasks.sweep(), woken) == (0, [])
    with psycopg.connect(worker_pool) as conn:
        conn.execute("UPDATE clerk.webhook_events SET received_at = now() - interval '2 min'")
    assert (tasks.sweep(), woken) == (1, [True])


def test_a_statement_timeout_costs_only_its_user_attempts_and_others_apply_at_once(
    bob_outlasts_statement_timeout: str,
) -> None:
    url = bob_outlasts_statement_timeout
    with psycopg.connect(url) as conn:
        put(conn, ADA_EVENT, "ada")
        put(conn, bob_event(), "bob")
        put(conn, bob_event("user_2pCyExample000000000000001", "idn_2pPhoneCy00000000000001"), "cy")
    started = time.monotonic()
    result = tasks.apply_batch()
    assert (sorted(result.processed), result.retrying) == (["ada", "cy"], ["bob"])
    assert time.monotonic() - started < 5
    for _ in range(claim.MAX_ATTEMPTS - 1):
        with psycopg.connect(url) as conn:
            conn.execute("UPDATE clerk.webhook_events SET next_attempt_at = now()")
        assert tasks.apply_batch().retrying == ["bob"]

    with psycopg.connect(url) as conn:
        status, attempts, last_error, _ = _inbox_row(conn, "bob")
        phones = conn.execute("SELECT user_id FROM clerk.phone_numbers ORDER BY 1").fetchall()
    assert (status, attempts) == ("dead", claim.MAX_ATTEMPTS)
    assert last_error.startswith("QueryCanceled: canceling statement due to statement timeout")
    assert phones == [("user_2pAdaExample0000000000001",), ("user_2pCyExample000000000000001",)]


@pytest.fixture
def drain_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """tasks.drain's batches and its retry scheduling, recorded; no Redis flag touched."""
    hand_tasks(monkeypatch)
    calls: dict[str, list[Any]] = {"batches": [], "retry_scheduled": []}
    apply_batch = tasks.apply_batch

    def recorded_batch() -> mirror.BatchResult:
        calls["batches"].append(apply_batch())
        return calls["batches"][-1]

    for change in ("started", "hold", "clear"):
        monkeypatch.setattr(tasks.wakeup, change, lambda *_: None)
    monkeypatch.setattr(tasks, "apply_batch", recorded_batch)
    monkeypatch.setattr(tasks, "_retry_when_due", lambda: calls["retry_scheduled"].append(True))
    return calls


def test_a_drain_claims_until_it_finds_nothing_then_once_after_the_clear_and_stops(
    worker_pool: str, drain_calls: dict[str, list[Any]]
) -> None:
    with psycopg.connect(worker_pool) as conn:
        put(conn, ADA_EVENT, "ada")
    assert tasks.drain() == 1
    # The claim after the clear was short of BATCH_USERS: it took every due event, so no
    # third empty claim follows, and without failures no retry is scheduled.
    assert [batch.claimed for batch in drain_calls["batches"]] == [1, 0, 0]
    assert drain_calls["retry_scheduled"] == []


@pytest.mark.usefixtures("bob_breaks_the_store")
def test_a_drain_whose_apply_failed_schedules_the_retry(
    worker_pool: str, drain_calls: dict[str, list[Any]]
) -> None:
    with psycopg.connect(worker_pool) as conn:
        put(conn, ADA_EVENT, "ada")
        put(conn, bob_event(), "bob")
    assert tasks.drain() == 2
    assert [batch.retrying for batch in drain_calls["batches"]] == [["bob"], [], []]
    assert drain_calls["retry_scheduled"] == [True]


def test_a_drain_that_finds_nothing_due_schedules_the_retry_of_what_backs_off(
    worker_pool: str, drain_calls: dict[str, list[Any]]
) -> None:
    with psycopg.connect(worker_pool) as conn:
        put(conn, ADA_EVENT, "ada")
        conn.execute("UPDATE clerk.webhook_events SET next_attempt_at = now() + interval '1 h'")
    assert tasks.drain() == 0
    assert drain_calls["retry_scheduled"] == [True]


@pytest.mark.usefixtures("bob_breaks_the_store")
def test_a_drain_that_hands_over_at_its_budget_still_schedules_the_retry_of_its_failures(
    worker_pool: str, drain_calls: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The drain that takes over schedules only its own failures; bob's are this one's.
    handed_over: list[bool] = []
    monkeypatch.setattr(tasks, "BATCH_USERS", 1)
    monkeypatch.setattr(tasks, "DRAIN_BUDGET_S", -1.0)
    monkeypatch.setattr(tasks, "_ask_for_help", lambda: None)
    monkeypatch.setattr(tasks.drain, "delay", lambda: handed_over.append(True))
    with psycopg.connect(worker_pool) as conn:
        put(conn, ADA_EVENT, "ada")
        put(conn, bob_event(), "bob")
    assert tasks.drain() == 2
    assert [batch.retrying for batch in drain_calls["batches"]] == [["bob"]]
    assert handed_over == [True]
    assert drain_calls["retry_scheduled"] == [True]
