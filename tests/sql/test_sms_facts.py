"""The SMS ledger's kept facts (counts_number, number_verified) and clerk.sms_prefix_days stay
right through every write that changes them: a verification after the sends, events out of
order, the earlier event of a message moving it to another day, and erasure. Each state is
checked against the definition, against the reports' original query, and by exact rows."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.support.crafted import apply, moment, phone, put_all, sms, snapshot
from tests.support.databases import every_database
from tests.support.processes import wait_for
from tests.support.sms_facts import (
    ORIGINAL_CONVERSION,
    ORIGINAL_PUMPING,
    PUMPING_DEFAULTS,
    STALE_SMS_DAYS,
    STALE_SMS_FACTS,
)
from worker.privacy import erase
from worker.sms import ledger

CONVERSION = "SELECT * FROM clerk.report_sms_conversion"
PUMPING = "SELECT * FROM clerk.report_sms_pumping"
N1, N2 = "+447400123456", "+447400987654"
DAY1, DAY2 = date(2025, 1, 1), date(2025, 1, 2)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    every_database(metafunc)


def conversion(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    """The report, after checking what it reads against its recomputations."""
    assert conn.execute(STALE_SMS_FACTS).fetchall() == []
    assert conn.execute(STALE_SMS_DAYS).fetchall() == []
    got = conn.execute(CONVERSION).fetchall()
    assert got == conn.execute(ORIGINAL_CONVERSION).fetchall()
    pumping = conn.execute(PUMPING).fetchall()
    assert pumping == conn.execute(ORIGINAL_PUMPING, PUMPING_DEFAULTS).fetchall()
    return got


def sends(conn: psycopg.Connection) -> None:
    put_all(
        conn,
        sms("sms_1", N1, moment(1, 5), user_id="user_a", phone_id="idn_a1"),
        # Before the sign-up finished: no ids, the number alone.
        sms("sms_2", N1, moment(1, 6)),
        # A number no one verifies.
        sms("sms_3", N2, moment(1, 7)),
        sms("sms_4", N1, moment(2), user_id="user_a", phone_id="idn_a1"),
    )


def test_a_verification_after_the_sends_makes_their_number_verified(
    conn: psycopg.Connection,
) -> None:
    apply(conn, snapshot("user_a", moment(1), [phone("idn_a1", N1, status="unverified")]))
    sends(conn)
    assert conversion(conn) == [
        (DAY1, "GB", 3, 2, 0, Decimal("0.0000")),
        (DAY2, "GB", 1, 1, 0, Decimal("0.0000")),
    ]
    apply(conn, snapshot("user_a", moment(3), [phone("idn_a1", N1)]))
    assert conversion(conn) == [
        (DAY1, "GB", 3, 2, 1, Decimal("0.5000")),
        (DAY2, "GB", 1, 1, 1, Decimal("1.0000")),
    ]
    # The phone removed: its history still says it was verified.
    apply(conn, snapshot("user_a", moment(4), []))
    assert conversion(conn)[0] == (DAY1, "GB", 3, 2, 1, Decimal("0.5000"))


def test_events_out_of_order_and_an_earlier_event_of_a_message_end_in_the_same_sums(
    conn: psycopg.Connection,
) -> None:
    # The sends one by one, newest first, before their user is known at all.
    apply(
        conn,
        sms("sms_4", N1, moment(2), user_id="user_a", phone_id="idn_a1"),
        sms("sms_3", N2, moment(1, 7)),
        sms("sms_2", N1, moment(1, 6)),
    )
    assert conversion(conn) == [
        (DAY1, "GB", 2, 2, 0, Decimal("0.0000")),
        (DAY2, "GB", 1, 1, 0, Decimal("0.0000")),
    ]
    # The verification before the snapshot that came first (the user is folded again).
    apply(conn, snapshot("user_a", moment(3), [phone("idn_a1", N1)]))
    apply(conn, snapshot("user_a", moment(1), [phone("idn_a1", N1, status="unverified")]))
    apply(conn, sms("sms_1", N1, moment(1, 5), user_id="user_a", phone_id="idn_a1"))
    assert conversion(conn) == [
        (DAY1, "GB", 3, 2, 1, Decimal("0.5000")),
        (DAY2, "GB", 1, 1, 1, Decimal("1.0000")),
    ]
    # An earlier event of sms_4 moves it to the first day: the second day has no send left.
    apply(conn, sms("sms_4", N1, moment(1, 9), user_id="user_a", phone_id="idn_a1"))
    assert conversion(conn) == [(DAY1, "GB", 4, 2, 1, Decimal("0.5000"))]
    left = conn.execute("SELECT day, number_prefix, sends FROM clerk.sms_prefix_days ORDER BY 2")
    assert left.fetchall() == [(DAY1, "+44740012", 3), (DAY1, "+44740098", 1)]


def test_erasure_keeps_the_sums_right_without_any_number(conn: psycopg.Connection) -> None:
    apply(conn, snapshot("user_a", moment(1), [phone("idn_a1", N1)]))
    sends(conn)
    assert conversion(conn) == [
        (DAY1, "GB", 3, 2, 1, Decimal("0.5000")),
        (DAY2, "GB", 1, 1, 1, Decimal("1.0000")),
    ]
    erase.erase_users(conn, ["user_a"])
    after = conversion(conn)
    # Every send still counts; the erased ones under their phone id or as their own.
    assert [row[:3] for row in after] == [(DAY1, "GB", 3), (DAY2, "GB", 1)]
    assert conn.execute(
        "SELECT count(*) FROM clerk.sms_prefix_days WHERE number_prefix IS NULL"
    ).fetchone() == (2,)
    erase.forget_number(conn, N2)
    assert [row[:3] for row in conversion(conn)] == [(DAY1, "GB", 3), (DAY2, "GB", 1)]
    assert conn.execute(
        "SELECT count(*) FROM clerk.sms_prefix_days WHERE number_prefix IS NOT NULL"
    ).fetchone() == (0,)


SUMS_ROWS = (
    "SELECT 'prefix', ctid FROM clerk.sms_prefix_days"
    " UNION ALL SELECT 'region', ctid FROM clerk.sms_region_days ORDER BY 1, 2"
)


def test_a_refresh_of_everything_mends_wrong_sums_and_rewrites_no_right_one(
    conn: psycopg.Connection,
) -> None:
    apply(conn, snapshot("user_a", moment(1), [phone("idn_a1", N1)]))
    sends(conn)
    kept = conn.execute(SUMS_ROWS).fetchall()
    conn.execute("SELECT clerk.refresh_sms_message_facts(NULL)")
    # Every row where it was: none written again (each write moves a row).
    assert conn.execute(SUMS_ROWS).fetchall() == kept
    # A wrong day, a missing prefix, a prefix and a region day of no send, wrong regions.
    conn.execute("UPDATE clerk.sms_prefix_days SET sends = sends + 5 WHERE day = %s", (DAY2,))
    conn.execute(
        "DELETE FROM clerk.sms_prefix_days WHERE day = %s AND number_prefix = '+44740098'",
        (DAY1,),
    )
    conn.execute(
        "INSERT INTO clerk.sms_prefix_days (day, region_code, number_prefix, sends,"
        " numbers_sent_to, numbers_verified) VALUES ('2025-03-01', NULL, NULL, 1, 1, 0)"
    )
    conn.execute(
        "INSERT INTO clerk.sms_region_days (day, region_code, sends, numbers_sent_to,"
        " numbers_verified) VALUES ('2025-03-01', NULL, 1, 1, 0)"
    )
    conn.execute("UPDATE clerk.sms_region_days SET numbers_verified = 7 WHERE day = %s", (DAY1,))
    assert conn.execute(STALE_SMS_DAYS).fetchall() != []
    conn.execute("SELECT clerk.refresh_sms_message_facts(NULL)")
    assert conversion(conn) == [
        (DAY1, "GB", 3, 2, 1, Decimal("0.5000")),
        (DAY2, "GB", 1, 1, 1, Decimal("1.0000")),
    ]


def seq_scans(conn: psycopg.Connection) -> int:
    """Full scans of the ledger so far in this transaction."""
    row = conn.execute(
        "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 'clerk.sms_messages'::regclass"
    ).fetchone()
    assert row is not None
    return int(row[0])


# A ledger long enough that a full scan of it costs more than finding a few rows by key.
LONG_LEDGER = 20_000


def test_a_write_to_a_long_ledger_finds_its_rows_by_key_not_by_scanning_the_ledger(
    conn: psycopg.Connection,
) -> None:
    # Without triggers, then the facts and sums of every row at once: a long ledger, fast.
    conn.execute("SET session_replication_role = replica")
    conn.execute(
        "INSERT INTO clerk.sms_messages (id, created_at, phone_number, region_code,"
        " number_prefix, svix_id)"
        " SELECT 'sms_old_' || i, timestamptz '2025-01-01' + i * interval '1 minute',"
        " '+4474' || lpad(i::text, 8, '0'), 'GB', '+4474' || lpad((i / 10000)::text, 4, '0'),"
        " 'msg_old_' || i FROM generate_series(1, %s) AS i",
        (LONG_LEDGER,),
    )
    conn.execute("RESET session_replication_role")
    conn.execute("SELECT clerk.refresh_sms_message_facts(NULL)")
    conn.execute("ANALYZE clerk.sms_messages")
    before = seq_scans(conn)
    ledger.write(
        conn,
        [ledger.Sms(svix_id="msg_new", id="sms_new", user_id=None, phone_number_id=None,
                    slug=None, status=None, delivered_by_clerk=None, created_at=moment(3),
                    phone_number=N1)],
        pii_key=None,
    )  # fmt: skip
    # The facts' rows by key, never every row: at 15,000 rows two full scans made each
    # write 22 ms, and more as the ledger grew.
    assert seq_scans(conn) == before
    assert conn.execute(STALE_SMS_FACTS).fetchall() == []
    assert conn.execute(STALE_SMS_DAYS).fetchall() == []


def baselines(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    """Each day of the prefix +44740012: its sends and its kept baseline (sends, numbers,
    verified over the 28 days before), after checking all against the recomputations."""
    conversion(conn)
    return conn.execute(
        "SELECT day, sends, base_sends, base_numbers, base_verified FROM clerk.sms_prefix_days"
        " WHERE number_prefix = '+44740012' ORDER BY day"
    ).fetchall()


def test_each_day_keeps_the_baseline_of_the_28_days_before_it_through_every_write(
    conn: psycopg.Connection,
) -> None:
    jan = {d: date(2025, 1, d) for d in range(1, 32)}
    feb1 = date(2025, 2, 1)
    apply(conn, snapshot("user_a", moment(1), [phone("idn_a1", N1)]))
    put_all(
        conn,
        sms("sms_1", N1, moment(1, 5), user_id="user_a", phone_id="idn_a1"),
        sms("sms_2", "+447400120001", moment(20)),
        sms("sms_3", "+447400120002", moment(29)),
        sms("sms_4", "+447400120003", moment(1, month=2)),
    )
    # The 28 days before the 29th start on the 1st; before February's 1st, on the 4th.
    assert baselines(conn) == [
        (jan[1], 1, 0, 0, 0),
        (jan[20], 1, 1, 1, 1),
        (jan[29], 1, 2, 2, 1),
        (feb1, 1, 2, 2, 0),
    ]
    # A new day between them: its baseline from the days before it, and it moves the
    # baselines of the days in the 28 after it.
    apply(conn, sms("sms_5", "+447400120004", moment(10)))
    assert baselines(conn) == [
        (jan[1], 1, 0, 0, 0),
        (jan[10], 1, 1, 1, 1),
        (jan[20], 1, 2, 2, 1),
        (jan[29], 1, 3, 3, 1),
        (feb1, 1, 3, 3, 0),
    ]
    # Its number verified later: the following days' verified baselines move.
    apply(conn, snapshot("user_b", moment(11), [phone("idn_b1", "+447400120004")]))
    assert [row[4] for row in baselines(conn)] == [0, 1, 2, 2, 1]
    # An earlier event of sms_3 moves it from the 29th to the 2nd: the 29th goes.
    apply(conn, sms("sms_3", "+447400120002", moment(2)))
    assert baselines(conn) == [
        (jan[1], 1, 0, 0, 0),
        (jan[2], 1, 1, 1, 1),
        (jan[10], 1, 2, 2, 1),
        (jan[20], 1, 3, 3, 2),
        (feb1, 1, 2, 2, 1),
    ]
    # Erased: the 1st's send leaves the prefix (its number is forgotten), and every day
    # after it within 28 days loses it from its baseline.
    erase.erase_users(conn, ["user_a"])
    assert baselines(conn) == [
        (jan[2], 1, 0, 0, 0),
        (jan[10], 1, 1, 1, 0),
        (jan[20], 1, 2, 2, 1),
        (feb1, 1, 2, 2, 1),
    ]


def _write_on_a_thread(
    conn: psycopg.Connection, rows: list[Any], errors: list[BaseException]
) -> threading.Thread:
    """Writes the rows in a transaction of conn's own, on a thread started here; what it
    raised goes to errors."""

    def write() -> None:
        try:
            with conn.transaction():
                ledger.write(conn, rows, pii_key=None)
        except psycopg.Error as exc:
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def _in_turn(database_url: str, first_rows: list[Any], second_rows: list[Any]) -> int:
    """The first writer writes and holds its transaction open while the second writes,
    which must wait for it before reading any day; how many advisory locks the first held.
    Then both commit, and the sums and baselines must be those of a recount."""
    errors: list[BaseException] = []
    with (
        psycopg.connect(database_url, autocommit=True) as probe,
        psycopg.connect(database_url) as first,
        psycopg.connect(database_url) as second,
    ):
        with first.transaction():
            ledger.write(first, first_rows, pii_key=None)
            held = probe.execute(
                "SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'advisory'",
                (first.info.backend_pid,),
            ).fetchone()
            worker = _write_on_a_thread(second, second_rows, errors)
            wait_for(
                lambda: (
                    not worker.is_alive()
                    or probe.execute(
                        "SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'advisory'"
                        " AND NOT granted",
                        (second.info.backend_pid,),
                    ).fetchone()
                    == (1,)
                ),
                timeout=10,
                what="the second writer",
            )
            # Without the wait it would have finished, blind to the first's days.
            assert worker.is_alive()
        worker.join(timeout=30)
        assert errors == []
        assert probe.execute(STALE_SMS_DAYS).fetchall() == []
        assert held is not None
        return int(held[0])


N1_DAYS = (
    "SELECT day, sends, base_sends FROM clerk.sms_prefix_days WHERE number_prefix = %s ORDER BY day"
)


def test_a_new_day_waits_for_another_writer_of_its_prefix_so_its_baseline_misses_nothing(
    database_url: str,
) -> None:
    # Two workers, each writing a new day of the same prefix: the later day's baseline
    # reads the earlier one, which the first has not committed yet.
    early = ledger.parse("msg_early", sms("sms_5", N1, moment(5)))
    late = ledger.parse("msg_late", sms("sms_10", "+447400120001", moment(10)))
    _in_turn(database_url, [early], [late])
    with psycopg.connect(database_url) as conn:
        assert conn.execute(N1_DAYS, (N1[:-4],)).fetchall() == [
            (date(2025, 1, 5), 1, 0),
            (date(2025, 1, 10), 1, 1),
        ]


def test_a_writer_waiting_for_a_region_day_holds_no_prefix_the_first_takes_next(
    database_url: str,
) -> None:
    # Two workers write one region's day under two prefixes: the second waits for the
    # first at the day's row of clerk.sms_region_days. The first then writes under the
    # second's prefix, as a later statement of its batch may: it must find that prefix
    # free, not held by the writer that waits for it (a deadlock: one batch fails).
    first_rows = [ledger.parse("msg_a", sms("sms_a", N1, moment(5)))]
    second_rows = [ledger.parse("msg_b", sms("sms_b", N2, moment(5, 1)))]
    next_rows = [ledger.parse("msg_c", sms("sms_c", N2[:-4] + "1111", moment(5, 2)))]
    errors: list[BaseException] = []
    with (
        psycopg.connect(database_url, autocommit=True) as probe,
        psycopg.connect(database_url) as first,
        psycopg.connect(database_url) as second,
    ):
        with first.transaction():
            ledger.write(first, first_rows, pii_key=None)
            worker = _write_on_a_thread(second, second_rows, errors)
            wait_for(
                lambda: (
                    probe.execute(
                        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                        (second.info.backend_pid,),
                    ).fetchone()
                    == (True,)
                ),
                timeout=10,
                what="the second writer to wait",
            )
            ledger.write(first, next_rows, pii_key=None)
        worker.join(timeout=30)
        assert errors == []
        assert probe.execute(STALE_SMS_DAYS).fetchall() == []
        assert probe.execute(
            "SELECT sends FROM clerk.sms_region_days WHERE day = %s", (date(2025, 1, 5),)
        ).fetchall() == [(3,)]


def _burst(name: str, day: int) -> list[Any]:
    """40 sends on a day, each under a prefix of its own, one of them N1's."""
    numbers = [N1] + [f"+4474005{i:03d}0001" for i in range(39)]
    return [
        ledger.parse(f"msg_{name}_{i}", sms(f"sms_{name}_{i}", n, moment(day)))
        for i, n in enumerate(numbers)
    ]


@pytest.mark.parametrize("burst_first", [True, False], ids=["burst-first", "burst-second"])
def test_a_burst_over_many_prefixes_takes_one_lock_and_still_orders_writers_of_a_prefix(
    database_url: str, burst_first: bool
) -> None:
    # More than 32 prefixes in one write take one lock of all prefixes instead of one each
    # (the lock table's room); a writer of a few prefixes still waits for it, and it for them.
    burst = _burst("burst", 5 if burst_first else 10)
    single = [ledger.parse("msg_single", sms("sms_single", N1, moment(10 if burst_first else 5)))]
    first_rows, second_rows = (burst, single) if burst_first else (single, burst)
    held = _in_turn(database_url, first_rows, second_rows)
    # the burst: one lock of all; a single prefix: that one, under a shared lock of all
    assert held == (1 if burst_first else 2)
    with psycopg.connect(database_url) as conn:
        assert conn.execute(N1_DAYS, (N1[:-4],)).fetchall() == [
            (date(2025, 1, 5), 1, 0),
            (date(2025, 1, 10), 1, 1),
        ]
