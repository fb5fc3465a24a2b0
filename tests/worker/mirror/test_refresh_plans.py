"""The per-batch refreshes read only the rows of the ids they are given, by index.

A paced load's batch touches a few dozen users; a refresh that scans a whole table costs
every batch time that grows with the mirror. On a freshly filled mirror, before any
ANALYZE (the first minute of a deployment, every benchmark database), the planner took
`col = ANY(ids) OR ...` and `col = ANY(ids)` over a few hundred ids for most of the
table and read users, phone_numbers and the histories whole, every batch.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench import payloads
from bench.db import load_inbox
from tests.support.plans import nodes, plan_of
from worker.db import connect
from worker.mirror import phone_history, queries
from worker.mirror.apply import apply_pending
from worker.tasks import BATCH_USERS

USERS = 3000
TABLES = ("users", "phone_numbers", "phone_number_history", "user_history", "phone_facts",
          "user_factor_changes")  # fmt: skip


def _scans(plan: Any, more_than: int = 0) -> list[str]:
    """The tables a JSON plan (with ANALYZE) read whole more than `more_than` times."""
    return [
        node["Relation Name"]
        for node in nodes(plan)
        if node["Node Type"] == "Seq Scan" and node.get("Actual Loops", 0) > more_than
    ]


def _apply_step(url: str, run: str, step: int, users: int, *, limit: int) -> None:
    """The step-th event of `users` users of bench.payloads, applied as _drain does."""
    load_inbox(url, [
        (f"msg_{run}_{i}_{step}",
         json.dumps(payloads.user_event(payloads.user_id(run, i), step)).encode())
        for i in range(users)
    ])  # fmt: skip
    _drain(url, limit=limit)


def _drain(url: str, *, limit: int) -> None:
    """Every pending event applied in batches of limit, on one connection; the applying
    session's statistics are flushed before it returns (pg_stat_user_tables)."""
    with connect(url) as conn:
        while apply_pending(conn, limit=limit).claimed:
            conn.commit()
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.commit()


@pytest.fixture
def filled(database_url: str) -> tuple[str, list[str], list[str]]:
    """A mirror of USERS users with two events applied each, never analyzed; 40 users and
    their phones, as a batch would name them."""
    with connect(database_url, autocommit=True) as conn:
        for table in TABLES:  # no statistics appear while the test runs
            conn.execute(f"ALTER TABLE clerk.{table} SET (autovacuum_enabled = off)")
    for step in (1, 2):
        _apply_step(database_url, "plan", step, USERS, limit=1000)
    users = [payloads.user_id("plan", i) for i in range(100, 140)]
    with connect(database_url) as conn:
        phones = [r[0] for r in conn.execute(
            "SELECT id FROM clerk.phone_numbers WHERE user_id = ANY(%s)", [users])]  # fmt: skip
    return database_url, users, phones


def test_a_batch_s_refreshes_read_no_table_whole(
    filled: tuple[str, list[str], list[str]],
) -> None:
    url, users, phones = filled
    with connect(url) as conn:
        stats = conn.execute(
            "SELECT count(*) FROM pg_stats WHERE schemaname = 'clerk' AND tablename = ANY(%s)",
            [list(TABLES)],
        ).fetchone()
        assert stats == (0,), "the mirror must not have been analyzed for this test"
        statements = {
            "primary phone": (
                queries.REFRESH_PRIMARY_PHONE_PROBLEM,
                {"user_ids": users, "phone_ids": phones},
            ),
            "phone facts": (phone_history.REFRESH_PHONE_FACTS, {"phone_ids": phones}),
            "user facts": (queries.REFRESH_USER_FACTOR_CHANGES, {"user_ids": users}),
        }
        for name, (statement, params) in statements.items():
            scanned = [t for t in _scans(plan_of(conn, statement, params)) if t in TABLES]
            assert scanned == [], f"{name} reads {scanned} whole"


def test_an_apply_s_transaction_runs_without_jit(database_url: str) -> None:
    """Priced per probe, a batch's refreshes of a few dozen users passed jit_above_cost,
    and compiling them took 20 times their run: the apply turns JIT off for its own
    transaction, in the statement that takes its user locks, and for nothing else; and
    there, generic plans (planning each run was 2 ms of a one-event batch's 5)."""
    with connect(database_url) as conn:
        conn.execute("SET jit = on")
        conn.execute(queries.LOCK_USERS_TO_APPLY, {"user_ids": ["user_a", "user_b"]})
        assert conn.execute("SHOW jit").fetchone() == ("off",)
        assert conn.execute("SHOW plan_cache_mode").fetchone() == ("force_generic_plan",)
        assert conn.execute("SHOW enable_seqscan").fetchone() == ("off",)
        conn.commit()
        assert conn.execute("SHOW enable_seqscan").fetchone() == ("on",)
        assert conn.execute("SHOW jit").fetchone() == ("on",)
        assert conn.execute("SHOW plan_cache_mode").fetchone() == ("auto",)


def test_the_user_facts_definition_read_whole_reads_each_table_once(
    filled: tuple[str, list[str], list[str]],
) -> None:
    """The definition is also read whole (the fill of a migration, a bulk load that builds
    its indexes after): there each table is read once, even with the user history's
    indexes gone, never once per row of another (as a per-row probe of it would)."""
    url, _, _ = filled
    _apply_step(url, "plan", 3, 300, limit=1000)  # step 3 reserves phones for 2FA
    with connect(url) as conn, conn.transaction(force_rollback=True):
        conn.execute(
            "ALTER TABLE clerk.user_history DROP CONSTRAINT user_history_user_id_svix_id_key"
        )
        conn.execute("DROP INDEX clerk.user_history_user_idx")
        phone_changes = conn.execute(
            "SELECT count(*) FROM clerk.user_factor_changes_of_history WHERE phone <> 0"
        )
        assert phone_changes.fetchone() == (300,)
        plan = plan_of(conn, "SELECT * FROM clerk.user_factor_changes_of_history", {})
        assert _scans(plan, more_than=1) == []


def test_small_batches_on_a_fresh_mirror_read_no_table_whole(database_url: str) -> None:
    """A paced load applies batches of a few events to a mirror that autoanalyze has not
    reached yet (its first minute, or a table it has not come back to): the generic plans
    cached while the tables were empty, and the planner's guesses without statistics, had
    every batch read users, phone_numbers, phone_facts and the histories whole, so each
    event cost more than the one before (680 µs of Postgres per event at 1,000 users,
    2,930 at 5,000). The apply's transaction leaves sequential scans to tables with no
    index to use."""
    with connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_reset()")
        tables = [r[0] for r in conn.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'clerk'")]  # fmt: skip
        for table in tables:  # no statistics appear while the test runs
            conn.execute(f"ALTER TABLE clerk.{table} SET (autovacuum_enabled = off)")
    _apply_step(database_url, "fresh", 1, 600, limit=5)
    with connect(database_url, autocommit=True) as conn:
        read = conn.execute(
            "SELECT relname, seq_tup_read FROM pg_stat_user_tables"
            " WHERE schemaname = 'clerk' AND seq_tup_read > 0 ORDER BY 1"
        ).fetchall()
        assert conn.execute("SELECT count(*) FROM clerk.users").fetchone() == (600,)
    assert read == []


def test_a_drain_reads_a_bounded_number_of_index_entries_per_event(database_url: str) -> None:
    """A backlog drained in the worker's batches, on one connection, with the statistics
    of the empty mirror (a new deployment's first drain): no index gives up more than a
    few entries per event applied. The user facts once read every phone whose facts said
    ever reserved, for each user refreshed, so each batch cost more than the one before:
    at 1,500 users, 167 entries of phone_facts_reserved_idx per event (docs/benchmarks.md)."""
    users, per_user = 1500, 5
    load_inbox(database_url, payloads.user_history("read", users, per_user))
    with connect(database_url, autocommit=True) as conn:
        for table in TABLES:  # the statistics stay those of the empty mirror
            conn.execute(f"ALTER TABLE clerk.{table} SET (autovacuum_enabled = off)")
        conn.execute("ANALYZE")
        conn.execute("SELECT pg_stat_reset()")
    _drain(database_url, limit=BATCH_USERS)
    with connect(database_url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT count(*) FROM clerk.webhook_events WHERE status = 'processed'"
        ).fetchone() == (users * per_user,)
        read = conn.execute(
            "SELECT indexrelname, idx_tup_read FROM pg_stat_user_indexes"
            " WHERE schemaname = 'clerk' AND idx_tup_read > %s ORDER BY 1",
            [10 * users * per_user],
        ).fetchall()
    assert read == []


def _monthly(run: str, index: int, step: int) -> tuple[str, bytes]:
    """The step-th event of a bench.payloads user, a month after the one before."""
    event = payloads.user_event(payloads.user_id(run, index), step)
    at = payloads.BASE_MS + step * 31 * 86_400_000
    event["data"]["updated_at"] = event["data"]["last_active_at"] = at
    event["timestamp"] = at + 5
    for phone in event["data"]["phone_numbers"]:
        phone["updated_at"] = at
    return f"msg_{run}_{index}_{step}", json.dumps(event).encode()


# Each row of a facts table by key: the transaction that wrote it, and its values.
KEPT = (
    "SELECT phone_number_id, xmin::text, t::text FROM clerk.phone_facts AS t",
    "SELECT (user_id, month)::text, xmin::text, t::text FROM clerk.user_factor_changes AS t",
)


def _kept(conn: Any) -> list[dict[str, tuple[str, str]]]:
    return [{row[0]: (row[1], row[2]) for row in conn.execute(query)} for query in KEPT]


def test_a_refresh_writes_only_the_facts_that_changed(database_url: str) -> None:
    """A batch recomputes every month of its users' 2FA changes and every fact of their
    phones, and most come out as they were kept. Those rows are left as they are: writing
    each again, 24 months of each user with two years behind it, made a paced batch's
    write-ahead log 1.8 times as long (docs/benchmarks.md)."""
    users, months = 20, 8
    load_inbox(database_url, [_monthly("kept", i, s) for s in range(months) for i in range(users)])
    _drain(database_url, limit=BATCH_USERS)
    with connect(database_url) as conn:
        facts, changes = _kept(conn)
    load_inbox(database_url, [_monthly("kept", i, months) for i in range(users)])
    _drain(database_url, limit=7)
    with connect(database_url) as conn:
        facts_after, changes_after = _kept(conn)
    for before, after in ((facts, facts_after), (changes, changes_after)):
        same = [k for k in before if k in after and before[k][1] == after[k][1]]
        assert len(same) >= users, "the test needs rows that the batch leaves as they were"
        rewritten = [k for k in same if before[k][0] != after[k][0]]
        assert rewritten == []
    assert len(changes_after) > len(changes), "the new month's changes were not written"
