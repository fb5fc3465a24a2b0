"""clerk.phone_number_sharing, the rows of report_shared_phone_numbers kept by the triggers of
the phones, the users and the phone history: equal to their recomputation and to the report
as computed before 0027 after any mix of writes (a user's deletion with no phone written,
history of a phone without `created_at`, erasure, TRUNCATE), and two writers of one number
that does not change its count both seen."""

from __future__ import annotations

import random
import threading
from typing import Any

import psycopg
import pytest

from tests.support.crafted import apply, deletion, moment, ms, phone, snapshot
from tests.support.databases import every_database
from tests.support.phone_number_counts import ORIGINAL_SHARED_NUMBERS, STALE_SHARING
from tests.support.processes import wait_for
from tests.worker.mirror import helpers
from tests.worker.mirror.helpers import put
from tests.worker.privacy.helpers import traces
from worker.mirror import apply as mirror
from worker.privacy import erase

REPORT = "SELECT * FROM clerk.report_shared_phone_numbers"
KEPT = "SELECT live_users, deleted_users, reheld_users, user_ids FROM clerk.phone_number_sharing"
N1 = "+447700900501"

# A phone without created_at is held from its earliest history row: one earlier still.
EARLIER_HISTORY = """
INSERT INTO clerk.phone_number_history
    (phone_number_id, user_id, change, phone_number, reserved_for_second_factor,
     default_second_factor, is_primary, svix_id, effective_at, event_at)
SELECT h.phone_number_id, h.user_id, 'created', h.phone_number, false, false, false,
       'msg_earlier_' || %(step)s, h.effective_at - %(back)s * interval '1 hour', h.event_at
FROM clerk.phone_number_history AS h
JOIN clerk.phone_numbers AS p ON p.id = h.phone_number_id
WHERE p.created_at IS NULL AND p.user_id = %(user)s
ORDER BY h.effective_at
LIMIT 1
"""
EARLIEST_HISTORY_GONE = """
DELETE FROM clerk.phone_number_history
WHERE history_id IN (SELECT DISTINCT ON (h.phone_number_id) h.history_id
                     FROM clerk.phone_number_history AS h
                     JOIN clerk.phone_numbers AS p ON p.id = h.phone_number_id
                     WHERE p.created_at IS NULL AND p.user_id = %(user)s
                     ORDER BY h.phone_number_id, h.effective_at)
"""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    every_database(metafunc)


def check(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    """The report, after checking the kept rows against their recomputation and the report
    against its computation before 0027 (which folded every phone at each call)."""
    assert conn.execute(STALE_SHARING).fetchall() == []
    got = conn.execute(REPORT).fetchall()
    assert got == conn.execute(ORIGINAL_SHARED_NUMBERS).fetchall()
    return got


def held(user: str, phone_id: str, number: str, day: int, *, dated: bool) -> dict[str, Any]:
    entry = phone(phone_id, number)
    entry["created_at"] = ms(moment(day)) if dated else None
    return entry


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_kept_rows_match_a_recomputation_after_random_writes(
    conn: psycopg.Connection, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helpers, "PII_KEY", b"sharing-test-key-0123456789abcdef")
    rng = random.Random(seed)
    users = [f"user_{u}" for u in range(6)]
    numbers = [f"+4477009006{n:02d}" for n in range(2)]
    shown = reheld = 0
    for step in range(80):
        user = rng.choice(users)
        roll = rng.random()
        if roll < 0.55:
            # The user's phones now: some of its ids, each with a number of the pool (an id
            # may come back with another), some without created_at.
            ids = rng.sample(range(3), rng.randint(0, 3))
            phones = [
                held(user, f"idn_{user}_{i}", rng.choice(numbers), step % 28 + 1,
                     dated=rng.random() < 0.6)
                for i in ids
            ]  # fmt: skip
            apply(conn, snapshot(user, moment(2, step), phones))
        elif roll < 0.7:
            apply(conn, deletion(user, moment(2, step)))
        elif roll < 0.75:
            # The user's deletion moved, made or undone, with no phone written (a user with
            # a live phone stays live: the worker's rule, which the report relies on).
            conn.execute(
                "UPDATE clerk.users SET deleted_at = %(at)s WHERE id = %(user)s AND NOT EXISTS"
                " (SELECT FROM clerk.phone_numbers WHERE user_id = %(user)s"
                "  AND deleted_at IS NULL)",
                {"at": rng.choice([None, moment(1, step), moment(3, step)]), "user": user},
            )
        elif roll < 0.83:
            conn.execute(
                EARLIER_HISTORY, {"user": user, "back": rng.randint(1, 2000), "step": step}
            )
        elif roll < 0.88:
            conn.execute(EARLIEST_HISTORY_GONE, {"user": user})
        elif roll < 0.95:
            erase.erase_users(conn, [user])
        else:
            erase.erase_deleted(conn, 0)
        got = check(conn)
        shown += len(got)
        reheld += sum(1 for row in got if row[5] > 0)
    assert shown > 0, "some steps shared a number"
    assert reheld > 0, "some steps reheld one"
    # Users first: live phones are then left without their users, a state the worker never
    # leaves, where the report before 0027 (which reads the users) is no oracle. The kept
    # rows still equal their definition.
    for table in ("users", "phone_number_history", "phone_numbers"):
        conn.execute(f"TRUNCATE clerk.{table}")  # our own names
        assert conn.execute(STALE_SHARING).fetchall() == []
    assert conn.execute("SELECT count(*) FROM clerk.phone_number_sharing").fetchone() == (0,)


def test_a_deletion_without_a_phone_written_and_history_move_the_row(
    conn: psycopg.Connection,
) -> None:
    apply(
        conn,
        snapshot("user_a", moment(1), [held("user_a", "idn_a", N1, 1, dated=True)]),
        deletion("user_a", moment(3)),
        snapshot("user_b", moment(5), [held("user_b", "idn_b", N1, 5, dated=False)]),
    )
    assert conn.execute(KEPT).fetchall() == [(1, 1, 1, ["user_a", "user_b"])]
    # user_b's phone has no created_at: held from its first history row (day 5). One
    # before user_a's deletion makes it no longer a taking after a deletion.
    conn.execute(EARLIER_HISTORY, {"user": "user_b", "back": 24 * 3, "step": 0})
    assert conn.execute(KEPT).fetchall() == []
    conn.execute(EARLIEST_HISTORY_GONE, {"user": "user_b"})
    assert conn.execute(KEPT).fetchall() == [(1, 1, 1, ["user_a", "user_b"])]
    # user_a's deletion moved after user_b took the number: users alone written.
    conn.execute("UPDATE clerk.users SET deleted_at = %s WHERE id = 'user_a'", (moment(9),))
    assert conn.execute(KEPT).fetchall() == []
    check(conn)


def test_erasure_leaves_no_trace_of_the_person_in_the_kept_rows(
    conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helpers, "PII_KEY", b"sharing-test-key-0123456789abcdef")
    for user in ("user_a", "user_b", "user_c"):
        apply(conn, snapshot(user, moment(1), [held(user, f"idn_{user}", N1, 1, dated=True)]))
    assert conn.execute(KEPT).fetchall() == [(3, 0, 0, ["user_a", "user_b", "user_c"])]
    assert ("phone_number_sharing", "user_ids", 1) in traces(conn, {"user_a"})
    erase.erase_users(conn, ["user_a"])
    assert conn.execute(KEPT).fetchall() == [(2, 0, 0, ["user_b", "user_c"])]
    assert [t for t in traces(conn, {"user_a"}) if t[0] == "phone_number_sharing"] == []
    erase.erase_users(conn, ["user_b"])
    assert conn.execute(KEPT).fetchall() == []
    check(conn)


def waits_for_a_row_lock(probe: psycopg.Connection, pid: int) -> bool:
    row = probe.execute(
        "SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'transactionid'"
        " AND NOT granted",
        (pid,),
    ).fetchone()
    return row == (1,)


@pytest.mark.parametrize("deleted_before", [0, 2])
def test_two_workers_deleting_holders_of_one_number_at_once_are_both_seen(
    database_url: str, deleted_before: int
) -> None:
    # Four users hold the number; two workers each delete one of them at once. A deletion
    # marks the phone deleted and leaves the number's count as it was, so no count row
    # orders the two: the triggers' own lock must, or the one that commits last keeps a
    # row folded without the other's deletion. With two holders deleted before, both
    # deletions come after the row's first two and are written to its counts alone.
    earlier = [f"user_0{i}" for i in range(deleted_before)]
    with psycopg.connect(database_url) as setup:
        for user in (*earlier, "user_a", "user_b", "user_c", "user_d"):
            apply(
                setup,
                snapshot(user, moment(1), [held(user, f"idn_{user}", N1, 1, dated=True)]),
            )
        for user in earlier:
            apply(setup, deletion(user, moment(2)))
        setup.commit()
    done: list[BaseException | None] = []

    def delete_b(conn: psycopg.Connection) -> None:
        try:
            with conn.transaction():
                put(conn, deletion("user_b", moment(4)), "msg_b")
                mirror.apply_ids(conn, ["msg_b"])
            done.append(None)
        except BaseException as exc:  # reported by the assertion below
            done.append(exc)

    with (
        psycopg.connect(database_url, autocommit=True) as probe,
        psycopg.connect(database_url) as first,
        psycopg.connect(database_url) as second,
    ):
        with first.transaction():
            put(first, deletion("user_a", moment(3)), "msg_a")
            mirror.apply_ids(first, ["msg_a"])
            thread = threading.Thread(target=delete_b, args=(second,))
            thread.start()
            wait_for(
                lambda: waits_for_a_row_lock(probe, second.info.backend_pid),
                10,
                "the second writer waiting on the first's number",
            )
        thread.join(10)
        assert not thread.is_alive()
        assert done == [None]
        holders = [*earlier, "user_a", "user_b", "user_c", "user_d"]
        deleted = 2 + deleted_before
        assert probe.execute(KEPT).fetchall() == [(2, deleted, 0, holders)]
        check(probe)


def test_the_pii_reader_reads_the_definition_and_the_reporting_role_neither(
    conn: psycopg.Connection,
) -> None:
    for user in ("user_a", "user_b"):
        apply(conn, snapshot(user, moment(1), [held(user, f"idn_{user}", N1, 1, dated=True)]))
    conn.execute("SET ROLE clerk_pii_reader")
    assert conn.execute(
        "SELECT phone_number, user_ids FROM clerk.phone_number_sharing_of_phones"
    ).fetchall() == [(N1, ["user_a", "user_b"])]
    conn.execute("SET ROLE clerk_reporting")
    for relation in ("phone_number_sharing", "phone_number_sharing_of_phones"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(f"SELECT * FROM clerk.{relation}")  # noqa: S608  # our own names
    assert len(conn.execute(REPORT).fetchall()) == 1
    conn.execute("RESET ROLE")


def test_new_holders_appended_or_folded_as_their_order_and_the_holders_deleted_say(
    conn: psycopg.Connection,
) -> None:
    # A new live holder sorting after the row's last one is appended without a fold, with a
    # deleted holder too; one sorting earlier, undated or already a holder folds. Each must
    # leave the row its recomputation.
    def join(user: str, day: int, *, dated: bool = True, slot: int = 0) -> None:
        entry = held(user, f"idn_{user}_{slot}", N1, day, dated=dated)
        apply(conn, snapshot(user, moment(day), [entry]))
        check(conn)

    join("user_a", 1)
    join("user_b", 2)  # the row appears: a fold
    join("user_c", 3)  # after user_b: appended
    join("user_e", 3)  # same first holding as user_c, a later id: appended
    join("user_d", 3)  # same holding, an id before user_e's: folded
    join("user_f", 2)  # earlier than the last holder: folded
    join("user_g", 20, dated=False)  # held from its history: folded
    join("user_h", 21)
    # Two new holders in one batch, in one statement.
    for user in ("user_j", "user_i"):
        put(conn, snapshot(user, moment(22), [held(user, f"idn_{user}_0", N1, 22, dated=True)]),
            f"msg_pair_{user}")  # fmt: skip
    helpers.drain(conn)
    check(conn)
    assert conn.execute(KEPT).fetchone() == (
        10, 0, 0,
        ["user_a", "user_b", "user_f", "user_c", "user_d", "user_e", "user_g", "user_h",
         "user_i", "user_j"],
    )  # fmt: skip
    # user_a's second phone with the number: an existing holder, folded.
    apply(conn, snapshot("user_a", moment(23), [
        held("user_a", "idn_user_a_0", N1, 1, dated=True),
        held("user_a", "idn_user_a_1", N1, 23, dated=True),
    ]))  # fmt: skip
    check(conn)
    apply(conn, deletion("user_b", moment(24)))
    # A holder deleted: user_k is appended all the same, and reheld.
    user_k = snapshot("user_k", moment(25), [held("user_k", "idn_user_k_0", N1, 25, dated=True)])
    assert not folded(conn, lambda: apply(conn, user_k))
    check(conn)
    assert conn.execute(KEPT).fetchone()[:3] == (10, 1, 1)  # type: ignore[index]


def test_a_deleted_phone_whose_user_is_gone_does_not_place_the_last_holder(
    conn: psycopg.Connection,
) -> None:
    # user_l's earlier phone of the number is deleted and its user row removed: the fold
    # holds user_l from its later phone alone, so a newcomer between the two sorts before
    # it, and must not be appended after it.
    for user, day in (("user_a", 1), ("user_b", 2)):
        apply(conn, snapshot(user, moment(day), [held(user, f"idn_{user}", N1, day, dated=True)]))
    early, late = (held("user_l", f"idn_user_l_{day}", N1, day, dated=True) for day in (3, 10))
    apply(conn, snapshot("user_l", moment(10), [early, late]))
    apply(conn, snapshot("user_l", moment(11), [late]))
    conn.execute("DELETE FROM clerk.users WHERE id = 'user_l'")
    # (a live phone without its user is no state the worker leaves, and the report before
    # 0027 read it otherwise: the kept row is compared with its definition alone)
    assert conn.execute(STALE_SHARING).fetchall() == []
    apply(conn, snapshot("user_v", moment(5), [held("user_v", "idn_user_v", N1, 5, dated=True)]))
    assert conn.execute(STALE_SHARING).fetchall() == []
    assert conn.execute(KEPT).fetchone() == (4, 0, 0, ["user_a", "user_b", "user_v", "user_l"])


MASKED = "SELECT phone_number_masked FROM clerk.phone_number_sharing"
SENTINEL = "UPDATE clerk.phone_number_sharing SET phone_number_masked = 'not folded'"
MASK_AGAIN = """
UPDATE clerk.phone_number_sharing AS k SET phone_number_masked = f.phone_number_masked
FROM clerk.phone_number_sharing_of_phones AS f WHERE f.phone_number = k.phone_number
"""


def folded(conn: psycopg.Connection, write: Any) -> bool:
    """Whether write folded the row again: a fold writes the mask back over a sentinel that
    a write of the counts alone leaves. The mask is put back after."""
    conn.execute(SENTINEL)
    write()
    row = conn.execute(MASKED).fetchone()
    conn.execute(MASK_AGAIN)
    return row != ("not folded",)


def test_a_late_deletion_and_a_new_holder_move_the_counts_without_a_fold(
    conn: psycopg.Connection,
) -> None:
    # A number thousands hold is folded from all its holdings at each change; the common
    # two, a holder deleted after the row's first two deletions and a new holder sorting
    # last, are written to the counts alone. Each must leave the row its recomputation.
    def join(user: str, day: int) -> None:
        apply(conn, snapshot(user, moment(day), [held(user, f"idn_{user}", N1, day, dated=True)]))

    for day, user in enumerate(("user_a", "user_b", "user_c", "user_d", "user_e"), start=1):
        join(user, day)
    # The first two deletions: a fold each, as they set what the row keeps of them.
    assert folded(conn, lambda: apply(conn, deletion("user_a", moment(10))))
    assert folded(conn, lambda: apply(conn, deletion("user_b", moment(11))))
    check(conn)
    # Later than both: the counts alone.
    assert not folded(conn, lambda: apply(conn, deletion("user_c", moment(12))))
    assert conn.execute(KEPT).fetchone()[:3] == (2, 3, 0)  # type: ignore[index]
    check(conn)
    # New holders after the first deletion: appended, and reheld.
    assert not folded(conn, lambda: join("user_f", 20))
    assert not folded(conn, lambda: join("user_g", 21))
    check(conn)
    # A phone taken off a live user: one live holder fewer, nobody deleted.
    assert not folded(conn, lambda: apply(conn, snapshot("user_e", moment(22), [])))
    assert conn.execute(KEPT).fetchone() == (
        3, 3, 2, ["user_a", "user_b", "user_c", "user_d", "user_e", "user_f", "user_g"],
    )  # fmt: skip
    check(conn)
    # A deletion between the first two moves the second, and so the first's standing: a
    # fold. So does a holder's user whose deletion moves with no phone written.
    assert folded(conn, lambda: apply(conn, deletion("user_d", moment(10, 30))))
    check(conn)
    assert folded(
        conn,
        lambda: conn.execute(
            "UPDATE clerk.users SET deleted_at = %s WHERE id = 'user_c'", (moment(9),)
        ),
    )
    check(conn)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_busy_number_kept_through_random_joins_and_deletions(
    conn: psycopg.Connection, seed: int
) -> None:
    # Many holders of one number, joining and leaving mostly in time order (the writes kept
    # without a fold) and now and then out of it (folded), the row checked at each step.
    rng = random.Random(seed)
    users = [f"user_{u:02d}" for u in range(14)]
    clock = 0
    for step in range(70):
        clock += rng.randint(0, 90)
        at = moment(2, clock - rng.choice([0, 0, 0, 0, 200]))
        user = rng.choice(users)
        roll = rng.random()
        if roll < 0.5:
            phones = [held(user, f"idn_{user}_{step % 2}", N1, 1, dated=rng.random() < 0.9)]
            phones[0]["created_at"] = ms(at) if phones[0]["created_at"] else None
            apply(conn, snapshot(user, at, phones))
        elif roll < 0.85:
            apply(conn, deletion(user, at))
        else:
            apply(conn, snapshot(user, at, []))
        check(conn)
