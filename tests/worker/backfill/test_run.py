"""Backfill and reconciliation against real Postgres and the fake Backend API over HTTP."""

from __future__ import annotations

import copy
import logging
import os
import random
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, LiteralString

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from tests.support.processes import children, gone
from tests.worker.mirror.helpers import drain, mirror_state, put
from worker import config
from worker.app import celery_settings
from worker.backfill import run as backfill
from worker.backfill.clerk_api import ClerkAPIError, ClerkClient
from worker.backfill.fake_clerk import FakeClerk
from worker.backfill.fake_users import NUMBER_PLANS, generate_users
from worker.cli.main import main
from worker.mirror import numbers
from worker.mirror.events import EPOCH
from worker.task_names import BACKFILL_TASK

KEY = "sk_test_fake"
REGIONS = {prefix: region for prefix, _digits, region in NUMBER_PLANS}


@pytest.fixture
def fake() -> Iterator[FakeClerk]:
    with FakeClerk(key=KEY) as server:
        yield server


def api(fake: FakeClerk, sleeps: list[float] | None = None) -> ClerkClient:
    """A client that records its waits instead of sleeping, with no rate limit."""
    record = sleeps if sleeps is not None else []
    return ClerkClient(fake.url, KEY, rate_limit=None, sleep=record.append, max_attempts=3)


def cli(database_url: str, fake: FakeClerk, *args: str, key: str = KEY) -> Any:
    env = {
        "DATABASE_URL": database_url,
        "CLERK_SECRET_KEY": key,
        "CLERK_API_URL": fake.url,
        "CLERK_API_RATE_LIMIT": "off",
    }
    return CliRunner().invoke(main, ["backfill", *args], env=env)


def ms(value: int | None) -> datetime | None:
    return None if value is None else EPOCH + timedelta(milliseconds=value)


def expected_state(users: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """What the mirror must hold for these Clerk users, derived from the objects alone."""
    rows, phones = [], []
    for user in users:
        rows.append(
            {
                "id": user["id"],
                "primary_phone_number_id": user["primary_phone_number_id"],
                "two_factor_enabled": user["two_factor_enabled"],
                "totp_enabled": user["totp_enabled"],
                "backup_code_enabled": user["backup_code_enabled"],
                "created_at": ms(user["created_at"]),
                "updated_at": ms(user["updated_at"]),
                "deleted_at": None,
            }
        )
        for phone in user["phone_numbers"]:
            verification = phone["verification"] or {}
            phones.append(
                {
                    "id": phone["id"],
                    "user_id": user["id"],
                    "phone_number": phone["phone_number"],
                    "region_code": next(
                        r for p, r in REGIONS.items() if phone["phone_number"].startswith(p)
                    ),
                    "reserved_for_second_factor": phone["reserved_for_second_factor"],
                    "default_second_factor": phone["default_second_factor"],
                    "is_primary": phone["id"] == user["primary_phone_number_id"],
                    "verification_status": verification.get("status"),
                    "verification_strategy": verification.get("strategy"),
                    "verification_attempts": verification.get("attempts"),
                    "verification_expire_at": ms(verification.get("expire_at")),
                    "linked_to": phone["linked_to"],
                    "created_at": ms(phone["created_at"]),
                    "updated_at": ms(phone["updated_at"]),
                    "deleted_at": None,
                }
            )
    return {
        "users": sorted(rows, key=lambda r: r["id"]),
        "phones": sorted(phones, key=lambda r: r["id"]),
    }


def count(database_url: str, query: LiteralString) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def live_mirror(database_url: str) -> dict[str, list[dict[str, Any]]]:
    with psycopg.connect(database_url) as conn:
        return mirror_state(conn)


def test_backfill_of_5000_users_mirrors_them_exactly(database_url: str, fake: FakeClerk) -> None:
    fake.users = generate_users(5000, seed=11)
    statuses = {
        (p["verification"] or {}).get("strategy", "null")
        + "/"
        + str((p["verification"] or {}).get("status"))
        for u in fake.users
        for p in u["phone_numbers"]
    }
    assert statuses == {
        "phone_code/unverified",
        "phone_code/verified",
        "phone_code/expired",
        "phone_code/failed",
        "null/None",
        "admin/verified",
    }

    result = cli(database_url, fake)

    assert result.exit_code == 0, result.output
    assert "5,000 users listed, 5,000 changed, 10 pages" in result.stdout
    state = live_mirror(database_url)
    expected = expected_state(fake.users)
    assert state["users"] == expected["users"]
    assert state["phones"] == expected["phones"]
    assert len(state["history"]) == len(expected["phones"])
    assert {h["change"] for h in state["history"]} == {"created"}
    assert fake.requests.count("/v1/users") == 11  # ten full pages, then an empty one


def test_a_backfill_whose_numbers_cannot_be_classified_apart_mirrors_them_all_the_same(
    database_url: str, fake: FakeClerk, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(numbers, "CLASSIFYING_PROCESS", (str(tmp_path / "no-such-python"),))
    numbers.forget()
    fake.users = generate_users(1000, seed=25)
    with api(fake) as client:
        run = backfill.run(database_url, client)
    assert (run["status"], run["users_seen"], run["users_changed"]) == ("succeeded", 1000, 1000)
    assert live_mirror(database_url)["phones"] == expected_state(fake.users)["phones"]


def alive_in_group(pgid: int) -> list[str]:
    """The processes of the group that still run (an exited one waiting to be reaped by
    init, whom its parent left it to, does not count)."""
    ps = subprocess.run(
        ["ps", "-ww", "-eo", "pgid=,stat=,args="], capture_output=True, text=True, check=True
    )
    rows = (line.split(None, 2) for line in ps.stdout.splitlines())
    return [row[2] for row in rows if int(row[0]) == pgid and not row[1].startswith("Z")]


# None: the moment the classifying process starts.
@pytest.mark.parametrize("at_page", [None, 4])
def test_ctrl_c_in_a_terminal_stops_the_run_and_its_classifying_process_quietly(
    database_url: str, fake: FakeClerk, tmp_path: Path, at_page: int | None
) -> None:
    # Ctrl-C reaches the command's process group. The command stops the run (resumable),
    # and closes the process that classifies its numbers, in a session of its own, which
    # says nothing.
    fake.users = generate_users(5000, seed=26)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CLERK_SECRET_KEY": KEY,
        "CLERK_API_URL": fake.url,
        "CLERK_API_RATE_LIMIT": "off",
    }
    command = shutil.which("clerk-mirror")
    assert command is not None
    stderr = tmp_path / "stderr"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(  # the project's own command
            [command, "backfill"], env=env, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True,
        )  # fmt: skip

        def ctrl_c(pages: int) -> None:
            if pages == at_page:  # the classifier started with page 1 (200+ numbers)
                os.killpg(proc.pid, signal.SIGINT)

        fake.after_page = ctrl_c
        try:
            deadline = time.monotonic() + 60
            while not (classifying := children(proc.pid, "worker.mirror.numbers")):
                assert proc.poll() is None, "the run ended before its classifying process began"
                assert time.monotonic() < deadline, "the classifying process never started"
                time.sleep(0.01)
            if at_page is None:
                os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=120) == 1
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert alive_in_group(proc.pid) == []  # nothing of the group outlives the command
    assert [pid for pid in classifying if not gone(pid, within_s=5)] == []  # nor of its own
    said = stderr.read_text()
    assert said.strip().splitlines()[-1] == (
        "Error: interrupted; continue with: clerk-mirror backfill --resume"
    ), said
    assert "Traceback" not in said
    assert "classified" not in said
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT status, users_seen FROM clerk.sync_runs").fetchone()
    assert row is not None
    assert row[0] == "interrupted"
    assert row[1] < 5000
    if at_page == 4:
        assert row[1] >= 500  # page 1 committed before page 4 was asked for

    fake.after_page = None
    with api(fake) as client:
        run = backfill.run(database_url, client, resume=True)
    assert (run["status"], run["users_seen"]) == ("succeeded", 5000)
    assert live_mirror(database_url)["phones"] == expected_state(fake.users)["phones"]


def test_a_first_backfill_analyzes_the_growing_mirror_at_each_doubling_up_to_a_last(
    database_url: str, fake: FakeClerk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At 100, 200 and 400 users listed, then no more: the planner scales what it read.
    monkeypatch.setattr(backfill, "FIRST_ANALYZE_AT", 100)
    monkeypatch.setattr(backfill, "LAST_ANALYZE_AT", 400)
    analyzed: list[int] = []
    analyze = backfill.page_analyze

    def counted(conn: psycopg.Connection) -> None:
        analyze(conn)
        row = conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = 'clerk.users'::regclass"
        ).fetchone()
        assert row is not None
        analyzed.append(int(row[0]))

    monkeypatch.setattr(backfill, "page_analyze", counted)
    fake.users = generate_users(1500, seed=27)
    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=100)
    assert run["users_seen"] == 1500
    assert len(analyzed) == 3, analyzed
    # Each read the mirror as it then was (-1: never analyzed; the page in flight may not
    # have committed yet).
    listed = (100, 200, 400)
    assert all(0 <= tuples <= n for tuples, n in zip(analyzed, listed, strict=True)), analyzed


def test_repeated_backfill_is_a_no_op_except_for_users_changed_in_clerk(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(700, seed=3)
    before_users = generate_users(700, seed=3)
    assert cli(database_url, fake).exit_code == 0
    before = live_mirror(database_url)
    events = count(database_url, "SELECT count(*) FROM clerk.webhook_events")

    result = cli(database_url, fake)

    assert result.exit_code == 0, result.output
    assert "700 users listed, 0 changed" in result.stdout
    assert live_mirror(database_url) == before
    assert count(database_url, "SELECT count(*) FROM clerk.webhook_events") == events

    changed = next(u for u in fake.users if u["phone_numbers"])
    fake.modify(changed["id"], phone_numbers=[])
    result = cli(database_url, fake)
    assert "700 users listed, 1 changed" in result.stdout
    removed = count(
        database_url, "SELECT count(*) FROM clerk.phone_number_history WHERE change = 'deleted'"
    )
    assert removed == len(
        next(u for u in before_users if u["id"] == changed["id"])["phone_numbers"]
    )


def test_progress_stays_off_stderr_when_it_is_not_a_terminal(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(20, seed=5)
    result = cli(database_url, fake)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.startswith("backfill run 1 succeeded: 20 users listed")


def test_429_and_intermittent_5xx_are_survived(database_url: str, fake: FakeClerk) -> None:
    fake.users = generate_users(1000, seed=4)
    fake.retry_after = "2"
    sleeps: list[float] = []

    def trouble(_: int) -> None:
        fake.faults.extend([429, 500])

    # After each page the fake serves, not after each page written: the next page is
    # fetched while one is written, so only the server knows which request comes next.
    fake.after_page = trouble
    with api(fake, sleeps) as client:
        run = backfill.run(database_url, client, page_size=200)

    assert run["status"] == "succeeded"
    assert run["users_seen"] == 1000
    assert sleeps.count(2.0) == 5  # every page after the first waited out a 429 ...
    assert sleeps.count(1.0) == 5  # ... then backed off after a 500 (second attempt)
    assert count(database_url, "SELECT count(*) FROM clerk.users") == 1000


def test_bad_key_fails_fast_with_exit_2_naming_clerk_secret_key(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(5, seed=1)
    result = cli(database_url, fake, key="sk_test_wrong")
    assert result.exit_code == 2
    assert "CLERK_SECRET_KEY" in result.output
    assert count(database_url, "SELECT count(*) FROM clerk.sync_runs") == 0


def test_missing_key_is_a_usage_error_naming_clerk_secret_key(
    database_url: str, fake: FakeClerk
) -> None:
    result = cli(database_url, fake, key="")
    assert result.exit_code == 2
    assert "CLERK_SECRET_KEY is not set" in result.output
    assert fake.requests == []


def test_an_api_outage_exits_4_and_says_how_to_resume(database_url: str, fake: FakeClerk) -> None:
    fake.users = generate_users(600, seed=2)
    fake.fail_from, fake.fail_status = 500, 400  # an answer no retry can mend
    result = cli(database_url, fake)
    assert result.exit_code == 4  # worker.cli.common.EXIT_CLERK_API
    assert "--resume" in result.output

    fake.fail_from = None
    result = cli(database_url, fake, "--resume")
    assert result.exit_code == 0, result.output
    # The run's counters add up over both attempts; the rate is of this attempt's 100 users.
    assert "backfill run 1 succeeded: 600 users listed, 600 changed, 2 pages" in result.stdout
    assert "100 users this time" in result.stdout


def newer(user: dict[str, Any], *, minutes: int = 5) -> dict[str, Any]:
    """The same user as a later webhook tells it: first phone verified by admin, 2FA off."""
    body = copy.deepcopy(user)
    body["updated_at"] += minutes * 60_000
    body["two_factor_enabled"] = False
    body["phone_numbers"][0]["verification"] = {"status": "verified", "strategy": "admin"}
    return {
        "object": "event",
        "type": "user.updated",
        "timestamp": body["updated_at"],
        "data": body,
    }


def apply_webhook(database_url: str, body: dict[str, Any], svix_id: str) -> None:
    with psycopg.connect(database_url) as conn:
        put(conn, body, svix_id)
        drain(conn)


def current(database_url: str, user_id: str) -> tuple[Any, ...]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT u.updated_at, u.two_factor_enabled, p.verification_strategy,"
            " u.version_svix_id FROM clerk.users u JOIN clerk.phone_numbers p"
            " ON p.id = u.primary_phone_number_id WHERE u.id = %s",
            (user_id,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def phoned(users: list[dict[str, Any]], start: int) -> dict[str, Any]:
    return next(u for u in users[start:] if u["phone_numbers"] and u["two_factor_enabled"])


def test_newer_webhook_before_backfill_is_not_overwritten(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(300, seed=8)
    user = phoned(fake.users, 0)
    webhook = newer(user)
    apply_webhook(database_url, webhook, "msg_newer")

    with api(fake) as client:
        backfill.run(database_url, client)

    assert current(database_url, user["id"]) == (
        ms(webhook["data"]["updated_at"]),
        False,
        "admin",
        "msg_newer",
    )
    with psycopg.connect(database_url) as conn:
        history = conn.execute(
            "SELECT svix_id, verification_strategy FROM clerk.phone_number_history"
            " WHERE phone_number_id = %s ORDER BY effective_at",
            (user["primary_phone_number_id"],),
        ).fetchall()
    # The older snapshot is a true past state: it lands in history, before the webhook.
    assert history == [
        (f"backfill_{user['id']}_{user['updated_at']}", "phone_code"),
        ("msg_newer", "admin"),
    ]


def test_newer_webhook_during_backfill_is_not_overwritten(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(400, seed=9)
    user = phoned(fake.users, 250)  # listed on a later page than the webhook arrives
    webhook = newer(user)
    pages = []

    def webhook_arrives(n: int) -> None:
        pages.append(n)
        if len(pages) == 1:
            apply_webhook(database_url, webhook, "msg_during")

    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=100, on_page=webhook_arrives)

    assert run["users_seen"] == 400
    assert run["users_changed"] == 399
    assert current(database_url, user["id"]) == (
        ms(webhook["data"]["updated_at"]),
        False,
        "admin",
        "msg_during",
    )


def test_user_failing_validation_is_recorded_and_the_run_goes_on(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(50, seed=6)
    fake.users[10]["phone_numbers"] = "not a list"
    with api(fake) as client:
        run = backfill.run(database_url, client)
    assert run["status"] == "succeeded"
    assert count(database_url, "SELECT count(*) FROM clerk.users") == 49
    with psycopg.connect(database_url) as conn:
        failed = conn.execute(
            "SELECT svix_id, last_error FROM clerk.webhook_events WHERE status = 'failed'"
        ).fetchall()
    user = fake.users[10]
    assert failed == [
        (f"backfill_{user['id']}_{user['updated_at']}", "data.phone_numbers should be an array")
    ]


def history_duplicates(database_url: str) -> int:
    return count(
        database_url,
        "SELECT count(*) - count(DISTINCT (phone_number_id, change,"
        " effective_at)) FROM clerk.phone_number_history",
    )


def test_failed_listing_resumes_from_its_checkpoint_without_duplicates(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(700, seed=12)
    fake.fail_from = 300  # the API fails for good after page 3
    with api(fake) as client, pytest.raises(ClerkAPIError):
        backfill.run(database_url, client, page_size=100)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT status, pages, after_user_id, error FROM clerk.sync_runs"
        ).fetchone()
    assert row is not None
    assert row[:3] == ("failed", 3, fake.users[299]["id"])
    assert "503" in row[3]

    fake.fail_from = None
    fake.requests.clear()
    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=100, resume=True)

    assert (run["id"], run["status"], run["pages"], run["users_seen"]) == (1, "succeeded", 7, 700)
    assert run["users_changed"] == 700
    assert fake.requests.count("/v1/users") == 5  # users 300..700, nothing listed twice
    assert live_mirror(database_url)["phones"] == expected_state(fake.users)["phones"]
    assert history_duplicates(database_url) == 0
    assert count(database_url, "SELECT count(*) FROM clerk.sync_run_users") == 700


def test_interrupted_run_is_marked_and_resume_finishes_it(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(500, seed=13)

    def ctrl_c_after_page_2(_: int) -> None:
        if count(database_url, "SELECT pages FROM clerk.sync_runs") == 2:
            raise KeyboardInterrupt

    with api(fake) as client, pytest.raises(KeyboardInterrupt):
        backfill.run(database_url, client, page_size=100, on_page=ctrl_c_after_page_2)
    with psycopg.connect(database_url) as conn:
        checkpoint = conn.execute("SELECT status, after_user_id FROM clerk.sync_runs").fetchall()
    assert checkpoint == [("interrupted", fake.users[199]["id"])]

    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=100, resume=True)
    assert (run["id"], run["status"], run["users_seen"], run["users_changed"]) == (
        1,
        "succeeded",
        500,
        500,
    )
    assert count(database_url, "SELECT count(*) FROM clerk.users") == 500
    assert history_duplicates(database_url) == 0


def deleted_users(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT id FROM clerk.users WHERE deleted_at IS NOT NULL").fetchall()
    return {r[0] for r in rows}


def test_reconcile_tombstones_exactly_the_users_clerk_no_longer_lists(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(300, seed=14)
    with api(fake) as client:
        backfill.run(database_url, client, page_size=100)
    gone = [u["id"] for u in fake.users[5:300:43]]
    fake.remove(gone)
    # Created by a webhook after the listing starts, and not (yet) listed: must survive.
    fresh = generate_users(1, seed=99)[0]
    fresh["created_at"] = fresh["updated_at"] = int(datetime.now(tz=UTC).timestamp() * 1000)

    def webhook_arrives(_: int) -> None:
        apply_webhook(
            database_url,
            {
                "object": "event",
                "type": "user.created",
                "timestamp": fresh["updated_at"],
                "data": fresh,
            },
            "msg_new",
        )

    with api(fake) as client:
        run = backfill.run(
            database_url, client, page_size=100, reconcile=True, on_page=webhook_arrives
        )

    assert run["tombstoned"] == len(gone) == 7
    assert deleted_users(database_url) == set(gone)
    with psycopg.connect(database_url) as conn:
        history = conn.execute(
            "SELECT DISTINCT user_id, svix_id FROM clerk.phone_number_history"
            " WHERE change = 'deleted'"
        ).fetchall()
        live_phones = conn.execute(
            "SELECT count(*) FROM clerk.phone_numbers WHERE user_id = ANY(%s)"
            " AND deleted_at IS NULL",
            (gone,),
        ).fetchone()
    with_phones = {u["id"] for u in generate_users(300, seed=14) if u["phone_numbers"]}
    assert set(history) == {(u, f"reconcile_{run['id']}_{u}") for u in gone if u in with_phones}
    assert live_phones == (0,)

    with api(fake) as client:
        again = backfill.run(database_url, client, reconcile=True)
    assert again["tombstoned"] == 0


def test_reconcile_does_nothing_after_a_failed_listing(database_url: str, fake: FakeClerk) -> None:
    fake.users = generate_users(300, seed=15)
    with api(fake) as client:
        backfill.run(database_url, client, page_size=100)
    fake.remove([fake.users[0]["id"], fake.users[150]["id"]])
    fake.fail_from = 200

    with api(fake) as client, pytest.raises(ClerkAPIError):
        backfill.run(database_url, client, page_size=100, reconcile=True)

    assert deleted_users(database_url) == set()
    assert count(database_url, "SELECT max(tombstoned) FROM clerk.sync_runs") == 0


def test_beat_reconciles_only_when_an_interval_is_set() -> None:
    assert "reconcile-clerk" not in celery_settings(config.from_env({}))["beat_schedule"]
    every_hour = config.from_env({"CLERK_MIRROR_RECONCILE_INTERVAL": "3600"})
    entry = celery_settings(every_hour)["beat_schedule"]["reconcile-clerk"]
    assert entry == {"task": BACKFILL_TASK, "schedule": 3600.0, "kwargs": {"reconcile": True}}


def mirrored_ids(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM clerk.users").fetchall()}


def test_users_deleted_during_the_listing_make_the_backfill_skip_no_one(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(300, seed=16)
    listed_first = [u["id"] for u in fake.users[:100]]

    def clerk_deletes_listed_users(pages: int) -> None:
        if pages == 1:  # after page 1 went out: every later offset would shift by 10
            fake.remove(listed_first[::10])

    fake.after_page = clerk_deletes_listed_users
    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=100)

    assert run["status"] == "succeeded"
    # Users 100..109 existed throughout: offset 100 would have started at user 110.
    assert mirrored_ids(database_url) == {u["id"] for u in fake.users} | set(listed_first)
    assert run["users_seen"] == 300


def test_reconcile_dates_the_deletion_at_its_404_so_a_later_update_stays_in_history(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(300, seed=17)
    with api(fake) as client:
        backfill.run(database_url, client, page_size=100)
    user = phoned(fake.users, 250)  # on the last page: not listed before the interruption

    def ctrl_c(_: int) -> None:
        raise KeyboardInterrupt

    with api(fake) as client, pytest.raises(KeyboardInterrupt):
        backfill.run(database_url, client, page_size=100, reconcile=True, on_page=ctrl_c)
    with psycopg.connect(database_url) as conn:
        # The run is resumed two days after it started ...
        conn.execute("UPDATE clerk.sync_runs SET started_at = now() - interval '2 days'")
        # ... and a day after its start, Clerk sent an update the worker has not applied yet.
        update = newer(user)
        update["timestamp"] = update["data"]["updated_at"] = (
            int(datetime.now(tz=UTC).timestamp() * 1000) - 86_400_000
        )
        put(conn, update, "msg_meanwhile")
    fake.remove([user["id"]])

    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=100, resume=True)
    with psycopg.connect(database_url) as conn:
        drain(conn)
        history = conn.execute(
            "SELECT svix_id, change, effective_at FROM clerk.phone_number_history"
            " WHERE phone_number_id = %s ORDER BY effective_at, event_at",
            (user["primary_phone_number_id"],),
        ).fetchall()

    assert (run["id"], run["tombstoned"]) == (2, 1)
    assert [(svix_id, change) for svix_id, change, _ in history] == [
        (f"backfill_{user['id']}_{user['updated_at']}", "created"),
        ("msg_meanwhile", "updated"),
        (f"reconcile_2_{user['id']}", "deleted"),
    ]
    assert history[2][2] > datetime.now(tz=UTC) - timedelta(minutes=1)
    assert deleted_users(database_url) == {user["id"]}


def test_an_unfinished_run_from_before_cursor_paging_lists_again_from_the_first_user(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(300, seed=18)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO clerk.sync_runs (status, pages, users_seen, next_offset)"
            " VALUES ('failed', 2, 200, 200)"
        )
    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=100, resume=True)
    assert (run["id"], run["status"], run["pages"], run["users_seen"]) == (1, "succeeded", 3, 300)
    assert run["after_user_id"] == fake.users[-1]["id"]
    assert mirrored_ids(database_url) == {u["id"] for u in fake.users}


def reject_in_sql(
    database_url: str, table: str, column: str, user_id: str, errcode: str, *, pending: bool
) -> None:
    """A trigger that fails the writes of one user's rows in `table` with `errcode` (only
    of rows not stored as failed, when asked): a database error that this user alone meets."""
    only_pending = sql.SQL("NEW.status <> 'failed' AND" if pending else "")
    with psycopg.connect(database_url) as conn:
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION clerk.reject() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN IF {only_pending} NEW.{column} = {user_id} THEN"
                " RAISE EXCEPTION 'rejected for this user' USING ERRCODE = {errcode};"
                " END IF; RETURN NEW; END $$;"
                " CREATE TRIGGER reject BEFORE INSERT OR UPDATE ON clerk.{table}"
                " FOR EACH ROW EXECUTE FUNCTION clerk.reject()"
            ).format(
                only_pending=only_pending,
                column=sql.Identifier(column),
                user_id=sql.Literal(user_id),
                errcode=sql.Literal(errcode),
                table=sql.Identifier(table),
            )
        )


def test_a_user_whose_event_cannot_be_stored_fails_alone_and_the_run_goes_on(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(50, seed=19)
    user = fake.users[20]
    reject_in_sql(
        database_url, "webhook_events", "user_id", user["id"], "check_violation", pending=True
    )
    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=25)

    assert (run["status"], run["pages"], run["users_seen"]) == ("succeeded", 2, 50)
    assert mirrored_ids(database_url) == {u["id"] for u in fake.users} - {user["id"]}
    with psycopg.connect(database_url) as conn:
        failed = conn.execute(
            "SELECT svix_id, last_error, payload IS NOT NULL FROM clerk.webhook_events"
            " WHERE status = 'failed'"
        ).fetchall()
    assert failed == [
        (
            f"backfill_{user['id']}_{user['updated_at']}",
            "not stored: CheckViolation: rejected for this user",
            True,
        )
    ]


def test_a_user_whose_apply_is_cancelled_is_left_to_retry_and_the_page_commits(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(50, seed=20)
    user = fake.users[30]
    # What the mirror's own isolation hands back as if the connection were lost.
    reject_in_sql(database_url, "users", "id", user["id"], "query_canceled", pending=False)
    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=25)

    assert (run["status"], run["users_seen"], run["users_changed"]) == ("succeeded", 50, 49)
    assert mirrored_ids(database_url) == {u["id"] for u in fake.users} - {user["id"]}
    with psycopg.connect(database_url) as conn:
        retrying = conn.execute(
            "SELECT svix_id, status, attempts, last_error, next_attempt_at IS NOT NULL"
            " FROM clerk.webhook_events WHERE status <> 'processed'"
        ).fetchall()
    assert retrying == [
        (
            f"backfill_{user['id']}_{user['updated_at']}",
            "pending",
            1,
            "QueryCanceled: rejected for this user",
            True,
        )
    ]


def test_a_page_ending_in_a_user_without_an_id_goes_on_after_the_user_before_it(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(50, seed=21)
    fake.users[24]["id"] = 24  # the last of page 1: no id to go on after
    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=25)

    assert (run["status"], run["pages"], run["after_user_id"]) == (
        "succeeded",
        3,
        fake.users[49]["id"],
    )
    assert mirrored_ids(database_url) == {u["id"] for u in fake.users if u["id"] != 24}
    with psycopg.connect(database_url) as conn:
        failed = conn.execute(
            "SELECT last_error FROM clerk.webhook_events WHERE status = 'failed'"
        ).fetchall()
    assert failed == [("data.id should be a string",)]


def test_a_checkpoint_whose_user_was_deleted_since_lists_again_from_the_first_user(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(300, seed=22)
    checkpoint = fake.users[99]["id"]

    def ctrl_c(_: int) -> None:
        raise KeyboardInterrupt

    with api(fake) as client, pytest.raises(KeyboardInterrupt):
        backfill.run(database_url, client, page_size=100, on_page=ctrl_c)
    fake.remove([checkpoint])  # Clerk refuses a cursor naming it (the fake's choice)
    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=100, resume=True)

    assert (run["id"], run["status"], run["pages"], run["users_seen"]) == (1, "succeeded", 3, 299)
    assert mirrored_ids(database_url) == {u["id"] for u in fake.users} | {checkpoint}


def test_a_cursor_user_deleted_between_two_pages_costs_a_second_listing_not_a_user(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(250, seed=23)
    last_of_page_1 = fake.users[99]["id"]

    def clerk_deletes_it(pages: int) -> None:
        if pages == 1:
            fake.remove([last_of_page_1])

    fake.after_page = clerk_deletes_it
    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=100)

    assert (run["status"], run["users_seen"], run["users_changed"]) == ("succeeded", 249, 250)
    assert mirrored_ids(database_url) == {u["id"] for u in fake.users} | {last_of_page_1}


def test_a_backfill_right_after_another_finds_the_lock_free(
    database_url: str, fake: FakeClerk
) -> None:
    # The lock is released before the run returns, not when the server gets round to
    # ending the closed session: a run started in that moment was told another ran.
    fake.users = generate_users(1, seed=21)
    with api(fake) as client, psycopg.connect(database_url, autocommit=True) as probe:
        for _ in range(50):
            backfill.run(database_url, client)
            held = probe.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
            assert held == (0,)


def test_a_page_that_cannot_commit_holds_back_the_pages_listed_after_it(
    database_url: str, fake: FakeClerk
) -> None:
    # The checkpoint of page 2 fails (its run ledger row is refused) while page 3 is
    # listed: page 3 must not be written, and the cursor stays after page 1.
    fake.users = generate_users(500, seed=24)
    reject_in_sql(
        database_url, "sync_run_users", "user_id", fake.users[150]["id"], "check_violation",
        pending=False,
    )  # fmt: skip
    with api(fake) as client, pytest.raises(psycopg.errors.CheckViolation):
        backfill.run(database_url, client, page_size=100)
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT status, pages, after_user_id FROM clerk.sync_runs").fetchone()
        conn.execute("DROP TRIGGER reject ON clerk.sync_run_users")
    assert row == ("failed", 1, fake.users[99]["id"])
    assert mirrored_ids(database_url) == {u["id"] for u in fake.users[:100]}
    assert count(database_url, "SELECT count(*) FROM clerk.sync_run_users") == 100

    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=100, resume=True)
    assert (run["status"], run["pages"], run["users_seen"], run["users_changed"]) == (
        "succeeded",
        5,
        500,
        500,
    )
    assert live_mirror(database_url)["phones"] == expected_state(fake.users)["phones"]
    assert history_duplicates(database_url) == 0


def assert_mirrored(database_url: str, users: list[dict[str, Any]]) -> None:
    """The mirror's users and phones are these Clerk users', exactly."""
    mirror, expected = live_mirror(database_url), expected_state(users)
    assert (mirror["users"], mirror["phones"]) == (expected["users"], expected["phones"])


def totals(run: dict[str, Any]) -> tuple[Any, ...]:
    return run["status"], run["pages"], run["users_seen"], run["users_changed"]


def user_lock_held(database_url: str, user_id: str) -> psycopg.Connection:
    """A connection that holds the lock a page's apply takes for this user, until closed
    (worker.mirror.queries.LOCK_USERS_TO_APPLY): that page's writer stops there."""
    conn = psycopg.connect(database_url)
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (user_id,))
    return conn


def waiting_its_turn(database_url: str, timeout: float = 30.0) -> None:
    """Return once a page's writer, its statements run, waits for the page before it: its
    backend's last query is the check that the earlier page is not waiting for it."""
    query: LiteralString = """
        SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND query LIKE '%pg_blocking_pids(%'
    """
    deadline = time.monotonic() + timeout
    while count(database_url, query) == 0:
        assert time.monotonic() < deadline, "no page waited for its turn"
        time.sleep(0.02)


def in_background(run: Callable[[], dict[str, Any]]) -> Future[dict[str, Any]]:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-backfill").submit(run)


def finished(database_url: str, running: Future[dict[str, Any]]) -> dict[str, Any]:
    """The run's row, or a failed test (its backends ended) if it hangs."""
    try:
        return running.result(timeout=60)
    except TimeoutError:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        raise AssertionError("the backfill hung") from None


def test_a_page_written_beside_the_one_before_it_commits_only_after_it(
    database_url: str, fake: FakeClerk
) -> None:
    fake.users = generate_users(200, seed=31)
    first_page = fake.users[:100]
    with user_lock_held(database_url, first_page[0]["id"]) as held, api(fake) as client:
        running = in_background(lambda: backfill.run(database_url, client, page_size=100))
        waiting_its_turn(database_url)
        # Page 2 is written but waits: nothing of it shows, and the cursor has not moved.
        assert count(database_url, "SELECT pages FROM clerk.sync_runs") == 0
        assert mirrored_ids(database_url) == set()
        held.commit()
        run = finished(database_url, running)
    assert (run["status"], run["pages"], run["users_seen"]) == ("succeeded", 2, 200)
    assert run["after_user_id"] == fake.users[-1]["id"]
    assert_mirrored(database_url, fake.users)


def test_a_page_holding_a_row_its_earlier_page_waits_for_gives_way_and_goes_again(
    database_url: str, fake: FakeClerk, caplog: pytest.LogCaptureFixture
) -> None:
    # Page 1's first user and a user of page 2 hold the same number: both pages write its
    # row of clerk.phone_number_counts. Page 2 writes it first (page 1 waits on the test's
    # lock), then waits for page 1 to commit, while page 1 waits for that row: neither
    # would ever go on unless page 2 rolls back.
    fake.users = generate_users(200, seed=32)
    first, later = phoned(fake.users, 0), phoned(fake.users, 150)
    number = later["phone_numbers"][0]["phone_number"]
    first["phone_numbers"][0]["phone_number"] = number
    caplog.set_level(logging.INFO, logger="worker.backfill.run")
    with user_lock_held(database_url, first["id"]) as held, api(fake) as client:
        running = in_background(lambda: backfill.run(database_url, client, page_size=100))
        waiting_its_turn(database_url)
        held.commit()
        run = finished(database_url, running)
    assert "a page gave way to the page before it" in caplog.messages
    assert (run["status"], run["pages"], run["users_seen"]) == ("succeeded", 2, 200)
    assert_mirrored(database_url, fake.users)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT phones FROM clerk.phone_number_counts WHERE phone_number = %s", (number,)
        ).fetchone()
    assert row == (2,)
    assert history_duplicates(database_url) == 0


def test_a_page_that_meets_a_deadlock_is_written_whole_again_not_user_by_user(
    database_url: str, fake: FakeClerk, caplog: pytest.LogCaptureFixture
) -> None:
    # Postgres ends a deadlock by failing one side: no user's fault. The page, not its
    # users one by one, goes again; user by user, a user could end up retrying or dead.
    fake.users = generate_users(300, seed=33)
    victim = fake.users[120]["id"]
    with psycopg.connect(database_url) as conn:
        conn.execute(
            sql.SQL(
                "CREATE SEQUENCE clerk.deadlocks;"
                " CREATE FUNCTION clerk.deadlock_once() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN IF NEW.id = {victim} AND nextval('clerk.deadlocks') = 1 THEN"
                " RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected';"
                " END IF; RETURN NEW; END $$;"
                " CREATE TRIGGER deadlock_once BEFORE INSERT OR UPDATE ON clerk.users"
                " FOR EACH ROW EXECUTE FUNCTION clerk.deadlock_once()"
            ).format(victim=sql.Literal(victim))
        )
    caplog.set_level(logging.INFO, logger="worker.backfill")
    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=100)
    # (The page after it may give way to it meanwhile: it holds rows the redo needs.)
    assert caplog.messages.count("a page met a deadlock and goes again") == 1
    assert not [m for m in caplog.messages if "user by user" in m]
    assert totals(run) == ("succeeded", 3, 300, 300)
    assert_mirrored(database_url, fake.users)
    statuses = "SELECT count(*) FROM clerk.webhook_events WHERE status <> 'processed'"
    assert count(database_url, statuses) == 0


def test_two_page_writers_and_a_drain_on_shared_numbers_leave_what_clerk_holds(
    database_url: str, fake: FakeClerk
) -> None:
    # Every first phone holds one of ten numbers: nearly every page writes rows the page
    # beside it writes too (the numbers' counts, sharing and facts), while webhooks newer
    # than the listing are drained for a tenth of the users.
    fake.users = generate_users(1500, seed=34)
    rng = random.Random(34)
    phoned_users = [u for u in fake.users if u["phone_numbers"]]
    numbers_held = [u["phone_numbers"][0]["phone_number"] for u in phoned_users[:10]]
    for user in fake.users:
        for phone in user["phone_numbers"][:1]:
            phone["phone_number"] = rng.choice(numbers_held)
    webhooks = [newer(u, minutes=rng.randint(1, 50)) for u in rng.sample(phoned_users, 150)]

    def deliver_webhooks() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            for body in webhooks:
                put(conn, body, f"msg_{body['data']['id']}")
                drain(conn)

    with api(fake) as client:
        delivering = in_background(lambda: {"done": deliver_webhooks()})
        running = in_background(lambda: backfill.run(database_url, client, page_size=100))
        run = finished(database_url, running)
        finished(database_url, delivering)
    assert (run["status"], run["pages"], run["users_seen"]) == ("succeeded", 15, 1500)
    unsettled = "SELECT count(*) FROM clerk.webhook_events WHERE status <> 'processed'"
    assert count(database_url, unsettled) == 0
    latest = {u["id"]: u for u in fake.users} | {b["data"]["id"]: b["data"] for b in webhooks}
    assert_mirrored(database_url, list(latest.values()))
    held = Counter(p["phone_number"] for u in latest.values() for p in u["phone_numbers"])
    with psycopg.connect(database_url) as conn:
        counted = dict(conn.execute("SELECT phone_number, phones FROM clerk.phone_number_counts"))
    assert counted == dict(held)
    assert history_duplicates(database_url) == 0


def test_a_page_writer_that_loses_its_connection_fails_the_run_and_resume_finishes_it(
    database_url: str, fake: FakeClerk
) -> None:
    # Page 2's writer waits on the test's lock when its backend is ended: page 1 is in,
    # page 3 (beside it) must not commit, and --resume goes on after page 1.
    fake.users = generate_users(300, seed=35)
    ended: list[int] = []

    def end_page_2s_backend(_: int) -> None:
        if ended:
            return
        waiting = "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        deadline = time.monotonic() + 30
        with psycopg.connect(database_url, autocommit=True) as conn:
            while not (row := conn.execute(waiting).fetchone()):
                assert time.monotonic() < deadline, "page 2 never waited"
                time.sleep(0.02)
            conn.execute("SELECT pg_terminate_backend(%s)", (row[0],))
        ended.append(row[0])

    with user_lock_held(database_url, fake.users[100]["id"]) as held:
        with api(fake) as client, pytest.raises(psycopg.OperationalError):
            backfill.run(database_url, client, page_size=100, on_page=end_page_2s_backend)
        held.rollback()
    assert ended
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT status, pages, after_user_id FROM clerk.sync_runs").fetchone()
    assert row == ("failed", 1, fake.users[99]["id"])
    assert mirrored_ids(database_url) == {u["id"] for u in fake.users[:100]}

    with api(fake) as client:
        run = backfill.run(database_url, client, page_size=100, resume=True)
    assert totals(run) == ("succeeded", 3, 300, 300)
    assert_mirrored(database_url, fake.users)
    assert history_duplicates(database_url) == 0
    assert count(database_url, "SELECT count(*) FROM clerk.sync_run_users") == 300
