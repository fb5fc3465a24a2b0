"""The model-based test's scheduler: random interleavings of what Svix, operators and the
database do to the mirror, each run through the production code, checked against the oracle.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final, LiteralString

from tests.model.clerk import (
    AS_OF_COMPARED,
    COMPARED,
    LEDGER_COMPARED,
    Clerk,
    Expected,
    Told,
    as_of,
    at,
    expected,
    expected_ledger,
    sms_send,
)
from tests.support.phone_number_counts import STALE_NUMBER_COUNTS, STALE_SHARING
from tests.support.sms_facts import STALE_SMS_DAYS, STALE_SMS_FACTS
from tests.worker.mirror.helpers import put
from worker import db, tasks
from worker.backfill import run as backfill
from worker.backfill.clerk_api import Listed, listed
from worker.inbox import ops
from worker.mirror.replay import replay

# Each kept table against a recomputation from history (EXCEPT ALL: duplicates count).
STALE_FACTS: Final[LiteralString] = """
(SELECT '-', * FROM clerk.phone_facts EXCEPT ALL SELECT '-', * FROM clerk.phone_facts_of_history)
UNION ALL
(SELECT '+', * FROM clerk.phone_facts_of_history EXCEPT ALL SELECT '+', * FROM clerk.phone_facts)
"""
# The table's columns but `kind`, which Postgres computes from them (0029).
STALE_CHANGES: Final[LiteralString] = """
WITH kept AS (
    SELECT user_id, month, live, two_factor, two_factor_on, two_factor_off, totp, totp_on,
           totp_off, backup_codes, backup_codes_on, backup_codes_off, phone, phone_on, phone_off
    FROM clerk.user_factor_changes
)
(SELECT '-', * FROM kept EXCEPT ALL SELECT '-', * FROM clerk.user_factor_changes_of_history)
UNION ALL
(SELECT '+', * FROM clerk.user_factor_changes_of_history EXCEPT ALL SELECT '+', * FROM kept)
"""

# Each history row's valid_until against its definition (sql/views/03_*.sql).
STALE_VALID_UNTIL: Final[LiteralString] = """
SELECT history_id, kept_valid_until, valid_until
FROM clerk.phone_history_valid_until
WHERE kept_valid_until IS DISTINCT FROM valid_until
"""
# The live reports count a phone as live by its own deleted_at (0012): a live phone has a
# user row and it is not deleted.
LIVE_PHONES_OF_GONE_USERS: Final[LiteralString] = """
SELECT p.id, p.user_id, u.deleted_at
FROM clerk.phone_numbers AS p LEFT JOIN clerk.users AS u ON u.id = p.user_id
WHERE p.deleted_at IS NULL AND (u.id IS NULL OR u.deleted_at IS NOT NULL)
"""

# users.primary_phone_problem against its definition (sql/views/04_*.sql).
STALE_PRIMARY_PHONE: Final[LiteralString] = """
SELECT u.id, u.primary_phone_problem
FROM clerk.users AS u JOIN clerk.users_primary_phone_problem AS m USING (id)
WHERE u.primary_phone_problem IS DISTINCT FROM m.primary_phone_problem
"""


class Crash(RuntimeError):
    """A batch that dies mid-transaction."""


class ListingClient:
    """Clerk's Backend API as the backfill sees it: one listing, and the 404 check."""

    def __init__(self, users: list[dict[str, Any]], exists: Callable[[str], bool]) -> None:
        self.users = sorted(users, key=lambda u: str(u["id"]))
        self.exists = exists

    def list_page(self, after: str | None, limit: int) -> list[Listed]:
        """The page as the real client reads it: each user with its JSON, as listed."""
        start = [str(u["id"]) for u in self.users].index(after) + 1 if after else 0
        return listed(json.dumps(self.users[start : start + limit], indent=1))

    def user_exists(self, user_id: str) -> bool:
        return self.exists(user_id)


class Machine:
    """One run: a seeded random walk over the steps, with a check whenever it settles."""

    def __init__(self, url: str, seed: int) -> None:
        self.url = url
        self.rng = random.Random(seed)
        self.clerk = Clerk(self.rng)
        self.undelivered: list[Told] = []
        self.told: dict[str, Told] = {}
        # sms.created events told, apart: the oracle of the ledger, not of the users.
        self.sms_told: dict[str, Told] = {}
        self.steps: Counter[str] = Counter()
        self.checks = 0
        self.conn = db.connect(url, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    # --- steps ---

    def clerk_changes(self) -> None:
        self.undelivered.append(self.clerk.change())

    def clerk_sends(self) -> None:
        self.undelivered.append(sms_send(self.clerk, list(self.sms_told.values())))

    def deliver(self) -> None:
        if self.told and (not self.undelivered or self.rng.random() < 0.2):
            pool = [*self.told.values(), *self.sms_told.values()]
            event = self.rng.choice(pool)  # a duplicate delivery
            if event.svix_id.startswith(("backfill_", "reconcile_")):
                return
        elif self.undelivered:
            event = self.undelivered.pop(self.rng.randrange(len(self.undelivered)))
        else:
            return
        put(self.conn, event.body, event.svix_id)
        told = self.sms_told if event.body["type"] == "sms.created" else self.told
        told.setdefault(event.svix_id, event)

    def drain(self) -> None:
        tasks.apply_batch(limit=self.rng.choice([1, 3, 200]))

    def two_workers(self) -> None:
        errors: list[BaseException] = []

        def work(limit: int) -> None:
            try:
                tasks.apply_batch(limit=limit)
            except BaseException as exc:
                errors.append(exc)

        limits = [self.rng.choice([1, 2, 200]) for _ in range(2)]
        threads = [threading.Thread(target=work, args=(n,)) for n in limits]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors

    def crash_mid_batch(self) -> None:
        before = self._inbox()
        try:
            with db.transaction() as conn:
                tasks.mirror.apply_pending(conn, limit=200)
                raise Crash
        except Crash:
            pass
        assert self._inbox() == before

    def purge(self) -> None:
        """Time passes for some closed events, then the purge of any retention runs."""
        ids = [r[0] for r in self.conn.execute("SELECT svix_id FROM clerk.webhook_events")]
        aged = self.rng.sample(ids, self.rng.randint(0, len(ids)))
        days = self.rng.choice([0, 1, 30])
        with self.conn.transaction():
            self.conn.execute(
                "UPDATE clerk.webhook_events SET processed_at = processed_at - %s"
                " WHERE svix_id = ANY(%s)",
                (timedelta(days=days + 1), aged),
            )
            ops.purge(self.conn, timedelta(days=days))

    def replay(self) -> None:
        ids = [r[0] for r in self.conn.execute("SELECT svix_id FROM clerk.webhook_events")]
        if ids:
            chosen = self.rng.sample(ids, self.rng.randint(1, len(ids)))
            with self.conn.transaction():
                replay(self.conn, chosen)

    def backfill(self) -> None:
        stale = self.rng.random() < 0.5
        users = self.clerk.listing(stale)
        if users and self.rng.random() < 0.3:
            users.remove(self.rng.choice(users))  # a listing that misses a user
        exists = self._exists_in_clerk
        reconcile = self.rng.random() < 0.5
        client: Any = ListingClient(users, exists)
        backfill.run(self.url, client, reconcile=reconcile, page_size=self.rng.choice([2, 50]))
        rows = self.conn.execute(
            "SELECT svix_id, payload FROM clerk.webhook_events"
            " WHERE source <> 'webhook' AND payload IS NOT NULL"
        ).fetchall()
        for svix_id, payload in rows:
            self.told.setdefault(svix_id, Told(svix_id, json.loads(bytes(payload))))

    def _exists_in_clerk(self, user_id: str) -> bool:
        user = self.clerk.users.get(user_id)
        return user is not None and not user.deleted

    # --- settling and the check ---

    def settle(self) -> None:
        """Deliver whatever is outstanding, drain, and compare with the oracle."""
        while self.undelivered:
            self.deliver()
        for _ in range(1000):
            if not tasks.apply_batch().claimed:
                break
        pending = self.conn.execute(
            "SELECT count(*) FROM clerk.webhook_events WHERE status = 'pending'"
        ).fetchone()
        assert pending == (0,), "events still pending after a drain"
        self.check(expected(self.told))
        self.check_ledger()
        self.checks += 1

    def check(self, want: Expected) -> None:
        _same("users", self._users(), want.users)
        _same("phones", self._phones(), want.phones)
        _same_rows("history", self._history(), want.history)
        _same_rows("user history", self._user_history(), want.user_history)
        for moment in self._moments(want.history):
            _same(f"as of {moment}", self._as_of(moment), as_of(want.history, moment))
        _same_rows("phone facts against a recomputation", self._stale(STALE_FACTS), [])
        _same_rows("user factor changes against a recomputation", self._stale(STALE_CHANGES), [])
        _same_rows("valid_until against a recomputation", self._stale(STALE_VALID_UNTIL), [])
        _same_rows("live phones of deleted users", self._stale(LIVE_PHONES_OF_GONE_USERS), [])
        _same_rows("primary_phone_problem", self._stale(STALE_PRIMARY_PHONE), [])
        _same_rows("phones per number against a recount", self._stale(STALE_NUMBER_COUNTS), [])
        _same_rows("shared numbers' rows against a recomputation", self._stale(STALE_SHARING), [])

    def check_ledger(self) -> None:
        """One row per message id, from its earliest event, as the oracle says."""
        rows = self.conn.execute(
            f"SELECT id, {LEDGER_COMPARED}, svix_id FROM clerk.sms_messages"  # noqa: S608
        ).fetchall()
        _same("SMS ledger", {r[0]: tuple(r[1:]) for r in rows}, expected_ledger(self.sms_told))
        # What the writers keep of it for the reports, against its definition and against
        # the reports' original grouping of every send by number.
        _same_rows("SMS ledger facts against a recomputation", self._stale(STALE_SMS_FACTS), [])
        _same_rows("SMS sums per day and prefix against a recomputation",
                   self._stale(STALE_SMS_DAYS), [])  # fmt: skip

    def _stale(self, query: LiteralString) -> list[tuple[Any, ...]]:
        """Kept rows that differ from the histories' own (kept: -, recomputed: +)."""
        return self.conn.execute(query).fetchall()

    def _moments(self, history: list[tuple[Any, ...]]) -> list[datetime]:
        times = sorted({row[-3] for row in history})
        picks = self.rng.sample(times, min(3, len(times)))
        return [t + timedelta(milliseconds=d) for t in picks for d in (-1, 0)]

    def _inbox(self) -> list[tuple[Any, ...]]:
        return self.conn.execute(
            "SELECT svix_id, status, attempts FROM clerk.webhook_events ORDER BY svix_id"
        ).fetchall()

    def _users(self) -> dict[str, tuple[Any, ...]]:
        rows = self.conn.execute(
            "SELECT id, primary_phone_number_id, two_factor_enabled, updated_at, deleted_at"
            " FROM clerk.users"
        )
        return {r[0]: tuple(r[1:]) for r in rows}

    def _phones(self) -> dict[str, tuple[Any, ...]]:
        rows = self.conn.execute(
            f"SELECT id, user_id, {COMPARED}, deleted_at FROM clerk.phone_numbers"  # noqa: S608
        )
        return {r[0]: tuple(r[1:]) for r in rows}

    def _history(self) -> list[tuple[Any, ...]]:
        rows = self.conn.execute(
            f"SELECT phone_number_id, change, {COMPARED}, deleted_at, effective_at,"  # noqa: S608
            " (extract(epoch FROM event_at) * 1000)::bigint, svix_id"
            " FROM clerk.phone_number_history"
        ).fetchall()
        return sorted((tuple(r) for r in rows), key=lambda r: (r[0], r[-3], r[-2], r[-1]))

    def _user_history(self) -> list[tuple[Any, ...]]:
        rows = self.conn.execute(
            "SELECT user_id, change, primary_phone_number_id, two_factor_enabled, totp_enabled,"
            " backup_code_enabled, deleted_at, effective_at,"
            " (extract(epoch FROM event_at) * 1000)::bigint, svix_id FROM clerk.user_history"
        ).fetchall()
        return sorted((tuple(r) for r in rows), key=lambda r: (r[0], r[-3], r[-2], r[-1]))

    def _as_of(self, moment: datetime) -> dict[str, tuple[Any, ...]]:
        rows = self.conn.execute(
            # As clerk_reporting reads it: no raw number (the model never renumbers a phone).
            f"SELECT id, {AS_OF_COMPARED}, deleted_at FROM clerk.phone_numbers_as_of(%s)",  # noqa: S608
            (moment,),
        )
        return {r[0]: tuple(r[1:]) for r in rows}

    # --- the walk ---

    STEPS: tuple[tuple[str, int], ...] = (
        ("clerk_changes", 30),
        ("clerk_sends", 8),
        ("deliver", 35),
        ("drain", 15),
        ("two_workers", 4),
        ("crash_mid_batch", 3),
        ("purge", 2),
        ("replay", 3),
        ("backfill", 2),
        ("settle", 6),
    )

    def step(self) -> str:
        names = [n for n, _ in self.STEPS]
        name = self.rng.choices(names, weights=[w for _, w in self.STEPS])[0]
        getattr(self, name)()
        self.steps[name] += 1
        return name


def _same(what: str, got: dict[Any, Any], want: dict[Any, Any]) -> None:
    """Equal, or an assertion that names only the entries that differ."""
    if got != want:
        keys = sorted({k for k in got.keys() | want.keys() if got.get(k) != want.get(k)})[:5]
        lines = [f"{k}: mirror {got.get(k)} != oracle {want.get(k)}" for k in keys]
        raise AssertionError(f"{what} differ:\n" + "\n".join(lines))


def _same_rows(what: str, got: list[Any], want: list[Any]) -> None:
    """Equal lists, or an assertion that shows the rows only one side has."""
    if got != want:
        extra = list((Counter(got) - Counter(want)).elements())[:5]
        missing = list((Counter(want) - Counter(got)).elements())[:5]
        order = "same rows, another order" if not extra and not missing else ""
        raise AssertionError(
            f"{what} differ {order}\nonly in mirror: {extra}\nonly in oracle: {missing}"
        )


def describe(machine: Machine, seed: int) -> str:
    counts = ", ".join(f"{n} {c}" for n, c in sorted(machine.steps.items()))
    told = Counter(t.svix_id.split("_")[0] for t in machine.told.values())
    keys = Counter((*t.key[:2], t.user_id) for t in machine.told.values())
    ties = sum(n for n in keys.values() if n > 1)
    return (
        f"seed {seed}: {sum(machine.steps.values())} steps ({counts}); "
        f"{len(machine.clerk.users)} users, {machine.checks} checks; events told: "
        f"{told['msg']} webhooks, {told['backfill']} backfill, {told['reconcile']} tombstones,"
        f" {ties} in ties; {len(machine.sms_told)} SMS events told"
    )


__all__ = ["Machine", "at", "describe"]
