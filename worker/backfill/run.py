"""Fill and reconcile the mirror from Clerk's Backend API, through the webhooks' apply path.

Each listed user becomes a user.updated event in the inbox (source 'backfill') and is
applied by worker.mirror.apply exactly like a webhook, so the newest-wins guard keeps a newer
webhook's state and an older snapshot only lands in history. The listing pages with
Clerk's starting_after cursor; one transaction per page holds the page's events, their
application and the run's checkpoint (the last user listed), see worker.backfill.page.
The next page is fetched while two are written, each on a connection of its own
(PageWriter), and pages commit in listing order: the run goes at the pace of the slower
of the listing and Postgres.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from types import TracebackType
from typing import Any, Final, LiteralString

import psycopg

from worker import db
from worker.backfill import sync_runs
from worker.backfill.clerk_api import PAGE_LIMIT, ClerkAPIError, ClerkClient, Listed
from worker.backfill.page import Page, apply_each, apply_page, event_envelope, prepare
from worker.backfill.page import analyze as page_analyze
from worker.backfill.sync_runs import Run
from worker.config import ConfigError, Settings, parse_rate_limit
from worker.inbox.insert import store_event
from worker.mirror import numbers

log = logging.getLogger(__name__)

# Only users whose last known change is this much older than the listing's start are
# reconciled: Clerk's clock and ours may disagree a little, and a user changed around the
# start is left to the next run rather than risked.
CLOCK_MARGIN: Final = timedelta(minutes=5)

# The run analyzes the mirror's tables when it has listed this many users, then each time
# it has listed twice as many (worker.backfill.page.ANALYZE_MIRROR says why), up to
# LAST_ANALYZE_AT. Past that the statistics tell the planner the tables are large and
# their ids unique, and it scales the row counts it read by each table's current size, so
# lookups by id stay index scans: with autovacuum off, 400,000 users went as fast at the
# end with five ANALYZEs as with nine. The later ones cost a second each, during which the
# main thread hands the writer no page (about 10% of 200,000 users, docs/benchmarks.md).
FIRST_ANALYZE_AT: Final = 1000
LAST_ANALYZE_AT: Final = 16_000

# Times one invocation lists again from the first user because its cursor's user was
# deleted: each costs a listing of what is already stored (no-ops), and more than a few
# means users are being deleted faster than it lists.
MAX_RESTARTS: Final = 3

# Pages written at once, each by a thread on a connection of its own. One writer left a
# core idle: a page's statements and its Python ran one after the other (1.12 cores busy,
# docs/benchmarks.md). Two write a run 30% to 50% faster on 2 cores, and in 40,000 users
# no page had to give way. Three went at half the speed of two: 66 of 80 pages gave way.
WRITERS: Final = 2
# How often a page that waits for the page before it to commit checks that the earlier
# page is not waiting for it.
TURN_POLL_S: Final = 0.02
# Times a page is written whole before a deadlock sends it user by user (the drain's ladder).
MAX_ATTEMPTS: Final = 3

# The backends those `waiting` wait for, and the ones those wait for, in turn: is `holder`
# one?
BLOCKED_BY: Final[LiteralString] = """
WITH RECURSIVE blockers(pid) AS (
    SELECT b FROM unnest(%(waiting)s::int[]) AS w, unnest(pg_blocking_pids(w)) AS b
    UNION
    SELECT b FROM blockers, unnest(pg_blocking_pids(blockers.pid)) AS b
)
SELECT %(holder)s::int IN (SELECT pid FROM blockers)
"""

OnPage = Callable[[int], None]


class BackfillBusy(RuntimeError):
    """Another backfill holds the lock: two runs never list and reconcile at once."""


def open_client(settings: Settings, rate_limit: str | None = None) -> ClerkClient:
    """A client from the settings; ConfigError names the variable to fix."""
    if not settings.clerk_secret_key:
        raise ConfigError("CLERK_SECRET_KEY is not set: give it the instance's sk_... secret key")
    if rate_limit is None:
        rate = settings.clerk_api_rate_limit
    else:
        rate = parse_rate_limit(rate_limit, "--rate-limit")
    return ClerkClient(settings.clerk_api_url, settings.clerk_secret_key, rate_limit=rate)


def run(
    database_url: str,
    client: ClerkClient,
    *,
    resume: bool = False,
    reconcile: bool = False,
    page_size: int = PAGE_LIMIT,
    on_page: OnPage | None = None,
    pii_key: bytes | None = None,
) -> dict[str, Any]:
    """List every user into the mirror (resuming the last unfinished run when asked).

    With reconcile, live users Clerk no longer lists are then tombstoned. Returns the
    run's row; an interrupt or error marks the run so that --resume continues it.
    pii_key is CLERK_MIRROR_PII_KEY, which the numbers written are hashed under.
    """
    with db.connect(database_url, autocommit=True) as conn:
        if not sync_runs.try_lock(conn):
            raise BackfillBusy("another backfill is running against this database")
        try:
            listing = Listing(database_url, page_size, on_page, pii_key)
            return _locked_run(conn, client, resume, reconcile, listing)
        finally:
            sync_runs.unlock(conn)


@dataclass(frozen=True, slots=True)
class Listing:
    """How a run lists and writes: where, page size, progress callback, the hash key."""

    database_url: str
    page_size: int
    on_page: OnPage | None
    pii_key: bytes | None


def _locked_run(
    conn: psycopg.Connection, client: ClerkClient, resume: bool, reconcile: bool, listing: Listing
) -> dict[str, Any]:
    with conn.transaction():
        current = sync_runs.resume(conn, reconcile=reconcile) if resume else None
        current = current or sync_runs.start(conn, reconcile=reconcile)
    try:
        _list(conn, client, current, listing)
        if current.reconcile:
            _reconcile(conn, client, current, listing.pii_key)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        _mark(conn, current.id, status, f"{type(exc).__name__}: {exc}"[:500])
        raise
    sync_runs.finish(conn, current.id, "succeeded")
    return sync_runs.summary(conn, current.id)


def _list(conn: psycopg.Connection, client: ClerkClient, run: Run, listing: Listing) -> None:
    """List page after page; the next page is fetched and parsed (by one thread of its own,
    the only user of the client meanwhile) while the page before it is written."""
    page_size = listing.page_size
    after, restarts = run.after_user_id, 0
    listed, analyze_at = 0, FIRST_ANALYZE_AT
    with (
        numbers.Classifier() as classifier,  # closed after the listing that uses it
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="clerk-listing") as fetcher,
        PageWriter(run.id, listing) as writer,
    ):
        coming = fetcher.submit(_prepared, client, after, page_size, classifier)
        while True:
            page = coming.result()
            if page is None:
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise ClerkAPIError(
                        f"the listing lost its cursor {MAX_RESTARTS} times: try later"
                    )
                log.warning("cursor user deleted: listing again", extra={"run_id": run.id})
                writer.finish()
                sync_runs.restart_listing(conn, run.id)
                after = None
                coming = fetcher.submit(_prepared, client, after, page_size, classifier)
                continue
            users = page.users
            last = _last_id(users) or after
            more = len(users) >= page_size and last != after
            if more:
                coming = fetcher.submit(_prepared, client, last, page_size, classifier)
            if users:
                writer.write(page, after_user_id=last)
            listed += len(users)
            if listed >= analyze_at and analyze_at <= LAST_ANALYZE_AT:
                page_analyze(conn)
                analyze_at = 2 * listed
            if len(users) < page_size:
                writer.finish()
                if not users and listing.on_page:
                    listing.on_page(0)
                return
            if not more:  # the same page would come again, forever
                writer.finish()
                raise ClerkAPIError(
                    "GET /users answered a page without a new user id: cannot go on"
                )
            after = last


class EarlierPageFailed(RuntimeError):
    """A page was not committed because the page listed before it failed: the run stops
    with that page's error, and --resume lists both again."""


class _GiveWay(Exception):
    """A later page holds a row its earlier page waits for: it rolls back and goes again."""


@dataclass(slots=True)
class _Slot:
    """A page handed to a writer: settled once it committed or failed, and its writer's
    backend once it has one."""

    future: Future[None] = field(default_factory=Future)
    pid: int | None = None


class PageWriter:
    """Write listed pages WRITERS at a time, each on a connection of its own, committed in
    listing order.

    write() hands a page to a writer's thread and returns while it is written, so the
    listing fetches and parses the next page meanwhile. A page is written while the page
    before it is, but commits only after it: it runs its statements, then waits for the
    earlier page's commit before its checkpoint. So the run's checkpoint never passes a page
    that is not in the mirror, and a page whose earlier page failed rolls back
    (EarlierPageFailed); write() raises the earliest page's error.

    Two pages may share a row (a number's count in clerk.phone_number_counts, its SMS
    facts). Postgres sees a wait between them and lets the later page wait for the earlier
    one's commit; it does not see the later page's own wait for that commit. While it waits,
    the later page asks Postgres whether an earlier page waits on it (directly or through
    others' locks), and if so rolls back, lets the earlier pages commit and goes again.
    """

    def __init__(self, run_id: int, listing: Listing) -> None:
        self.run_id, self.listing = run_id, listing
        self.thread = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="page-writer")
        self.local = threading.local()
        self.conns: list[psycopg.Connection] = []
        self.in_flight: deque[_Slot] = deque()

    def __enter__(self) -> PageWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # On the way out with an error (a listing that failed, Ctrl-C), the pages in flight
        # still commit: they are whole, and --resume goes on after them. If one fails
        # instead, the run ends with the other error: this one is logged, not lost.
        self.thread.shutdown(wait=True)
        for slot in self.in_flight:
            failed = slot.future.exception() if slot.future.done() else None
            if failed is not None and not isinstance(failed, EarlierPageFailed):
                log.error(
                    "a page in flight was not written",
                    extra={"error": db.describe_error(failed)},
                )
        for conn in self.conns:
            conn.close()

    def write(self, page: Page, *, after_user_id: str | None) -> None:
        """Start writing the page; raises the error of a page before it."""
        while len(self.in_flight) >= WRITERS:
            self._settle_oldest()
        earlier, slot = tuple(self.in_flight), _Slot()
        self.in_flight.append(slot)
        self.thread.submit(self._settle, slot, page, after_user_id, earlier)

    def finish(self) -> None:
        """Wait for the pages in flight; raises the first one's error."""
        while self.in_flight:
            self._settle_oldest()

    def _settle_oldest(self) -> None:
        oldest = self.in_flight[0]
        wait([oldest.future])  # interrupted, the page stays in flight for __exit__ to log
        self.in_flight.popleft()
        # Raises the page's error; the pages after it, still in flight, roll back.
        oldest.future.result()

    def _connection(self) -> psycopg.Connection:
        conn: psycopg.Connection | None = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = db.connect(self.listing.database_url, autocommit=True)
            self.conns.append(conn)
        return conn

    def _settle(
        self, slot: _Slot, page: Page, after_user_id: str | None, earlier: tuple[_Slot, ...]
    ) -> None:
        try:
            self._write(page, after_user_id, slot, earlier)
        except BaseException as exc:
            slot.future.set_exception(exc)
        else:
            slot.future.set_result(None)

    def _write(
        self, page: Page, after_user_id: str | None, slot: _Slot, earlier: tuple[_Slot, ...]
    ) -> None:
        conn = self._connection()
        attempt = 1
        while True:
            try:
                with conn.transaction():
                    # Asked in the transaction: behind a pooler, the server it runs on.
                    slot.pid = _backend_pid(conn)
                    apply_page(
                        conn,
                        self.run_id,
                        page,
                        after_user_id=after_user_id,
                        pii_key=self.listing.pii_key,
                        before_checkpoint=partial(_wait_turn, conn, slot, earlier),
                        raise_deadlock=attempt < MAX_ATTEMPTS,
                    )
                break
            except _GiveWay:
                log.info("a page gave way to the page before it", extra={"run_id": self.run_id})
            except psycopg.errors.DeadlockDetected:
                # Postgres chose this page to end a deadlock (with the other page, or a
                # drain): no user's fault, so the whole page goes again, not user by user.
                if attempt >= MAX_ATTEMPTS:
                    raise
                log.warning("a page met a deadlock and goes again", extra={"run_id": self.run_id})
            attempt += 1
            wait([s.future for s in earlier])
            _raise_if_failed(earlier)
            earlier = ()
        if self.listing.on_page:
            self.listing.on_page(len(page.users))


def _wait_turn(conn: psycopg.Connection, slot: _Slot, earlier: tuple[_Slot, ...]) -> None:
    """Return once the earlier pages have committed. EarlierPageFailed if one failed;
    _GiveWay if one waits for a lock this page's transaction holds."""
    while not_done := wait([s.future for s in earlier], timeout=TURN_POLL_S).not_done:
        waiting = {s.pid: s for s in earlier if s.future in not_done and s.pid is not None}
        # Still in flight after the check: a page that committed meanwhile may have left
        # its connection, and so its pid, to a page listed after this one.
        blocked = bool(waiting) and _blocked_by(conn, list(waiting), slot.pid)
        if blocked and any(not s.future.done() for s in waiting.values()):
            raise _GiveWay
    _raise_if_failed(earlier)


def _raise_if_failed(earlier: tuple[_Slot, ...]) -> None:
    if any(s.future.exception() is not None for s in earlier):
        raise EarlierPageFailed("not written: a page listed before it was not written")


def _backend_pid(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    return int(row[0]) if row else conn.info.backend_pid


def _blocked_by(conn: psycopg.Connection, waiting: list[int], holder: int | None) -> bool:
    """Whether one of the backends `waiting` waits for a lock of `holder`, directly or
    through others'."""
    row = conn.execute(BLOCKED_BY, {"waiting": waiting, "holder": holder}).fetchone()
    return bool(row and row[0])


def _prepared(
    client: ClerkClient, after: str | None, page_size: int, classifier: numbers.Classifier
) -> Page | None:
    """The page after the cursor, its events made and parsed (see _page)."""
    listed = _page(client, after, page_size)
    return None if listed is None else prepare(listed, classifier)


def _page(client: ClerkClient, after: str | None, page_size: int) -> list[Listed] | None:
    """The page after the cursor; None when Clerk refuses a cursor whose user is gone.

    Clerk's spec does not say what starting_after answers for a deleted user; a refusal
    (4xx) is then no reason to fail the run, which no --resume could finish.
    """
    try:
        return client.list_page(after, page_size)
    except ClerkAPIError as exc:
        if after is None or exc.status is None or client.user_exists(after):
            raise
        return None


def _last_id(users: list[Any]) -> str | None:
    """The cursor to go on with: the id of the page's last user that has one."""
    ids = [u["id"] for u in users if isinstance(u, dict) and isinstance(u.get("id"), str)]
    return str(ids[-1]) if ids else None


def _reconcile(
    conn: psycopg.Connection, client: ClerkClient, run: Run, pii_key: bytes | None
) -> None:
    candidates = sync_runs.missing_users(conn, run.id, run.started_at - CLOCK_MARGIN)
    gone = _gone(client, candidates)
    for start in range(0, len(gone), PAGE_LIMIT):
        with conn.transaction():
            ids = [
                _store_deletion(conn, run.id, u, at) for u, at in gone[start : start + PAGE_LIMIT]
            ]
            apply_each(conn, ids, pii_key=pii_key)
            sync_runs.add_tombstoned(conn, run.id, len(ids))
    log.info("reconciled", extra={"run_id": run.id, "tombstoned": len(gone)})


def _gone(client: ClerkClient, candidates: list[str]) -> list[tuple[str, int]]:
    """The candidates Clerk answers 404 for, each with the moment (ms) it answered.

    That moment, not the run's start, dates the deletion: a run resumed days after it
    started would otherwise put the deletion before changes Clerk made in between.
    """
    # The listing may have missed a user (one created while it ran): ask Clerk first.
    gone = []
    for user_id in candidates:
        if not client.user_exists(user_id):
            gone.append((user_id, time.time_ns() // 1_000_000))
    return gone


def _store_deletion(conn: psycopg.Connection, run_id: int, user_id: str, at_ms: int) -> str:
    body = {
        "object": "event",
        "type": "user.deleted",
        "timestamp": at_ms,
        "data": {"id": user_id, "object": "user", "deleted": True},
        "reconcile_run": run_id,
    }
    svix_id = f"reconcile_{run_id}_{user_id}"
    store_event(conn, svix_id, json.dumps(body).encode(), event_envelope(body), source="reconcile")
    return svix_id


def _mark(conn: psycopg.Connection, run_id: int, status: str, error: str) -> None:
    try:
        sync_runs.finish(conn, run_id, status, error)
    except psycopg.Error:
        log.exception("could not record the run's end", extra={"run_id": run_id})
