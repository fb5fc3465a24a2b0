"""worker.db: every session runs in UTC, whatever the database or the url says by default,
its socket notices a server gone silent within a minute, and lists reach Postgres as the
arrays they are."""

from __future__ import annotations

import random
import select
import socket
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.adapt import PyFormat

from worker import db


def session(conn: psycopg.Connection) -> tuple[str, str]:
    row = conn.execute("SELECT current_setting('TimeZone'), current_setting('search_path')")
    zone, path = row.fetchone() or ("", "")
    return zone, path


def test_a_direct_connection_runs_in_utc_on_a_database_far_from_it(far_shared_db_url: str) -> None:
    with db.connect(far_shared_db_url) as conn:
        assert session(conn)[0] == "UTC"


def test_the_worker_pool_runs_in_utc_on_a_database_far_from_it(far_shared_db_url: str) -> None:
    db.open_pool(far_shared_db_url)
    try:
        with db.transaction() as conn:
            assert session(conn)[0] == "UTC"
    finally:
        db.close_pool()


def test_options_the_url_names_are_kept_beside_utc(far_shared_db_url: str) -> None:
    url = psycopg.conninfo.make_conninfo(
        far_shared_db_url, options="-c search_path=clerk -c TimeZone=Asia/Tokyo"
    )
    with db.connect(url) as conn:
        # UTC comes last, so it wins over a zone the url names: the mirror reads times in UTC.
        assert session(conn) == ("UTC", "clerk")


def keepalive_options(conn: psycopg.Connection) -> tuple[int, int, int, int]:
    """The connection's socket options, as the kernel holds them."""
    sock = socket.socket(fileno=conn.fileno())
    try:
        return (
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        )
    finally:
        sock.detach()  # the connection's own descriptor: not closed here


def test_a_connection_probes_a_silent_server_after_30_s_and_gives_up_within_a_minute(
    database_url: str,
) -> None:
    # Keepalives are TCP's (the kernel's defaults: 7,200 s idle, then 9 probes 75 s apart).
    host = psycopg.conninfo.conninfo_to_dict(database_url).get("host", "")
    assert not host.startswith("/"), f"the tests' Postgres must be on TCP here, not {host}"
    with db.connect(database_url) as conn:
        assert keepalive_options(conn) == (1, 30, 10, 3)
    db.open_pool(database_url, max_size=1)
    try:
        with db.transaction() as conn:
            assert keepalive_options(conn) == (1, 30, 10, 3)
    finally:
        db.close_pool()


def test_keepalives_the_url_names_are_its_own(database_url: str) -> None:
    url = psycopg.conninfo.make_conninfo(database_url, keepalives_idle=5, keepalives_count=7)
    with db.connect(url) as conn:
        assert keepalive_options(conn) == (1, 5, 10, 7)
    off = psycopg.conninfo.make_conninfo(database_url, keepalives=0)
    with db.connect(off) as conn:
        assert keepalive_options(conn)[0] == 0


def test_the_pool_hands_out_no_connection_the_server_ended(database_url: str) -> None:
    """The check reads what the server sent while the connection sat idle (no round trip):
    a backend terminated meanwhile, as a restart ends them all, is replaced, not lent."""
    db.open_pool(database_url, max_size=1)
    try:
        with db.transaction() as conn:
            ended, fd = conn.info.backend_pid, conn.pgconn.socket
        with db.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [ended])
        # until the server has closed its end (its last words may still be unread)
        waiting = select.poll()
        waiting.register(fd, select.POLLRDHUP)
        assert waiting.poll(10_000), "the terminated backend never closed its socket"
        with db.transaction() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.info.backend_pid != ended
    finally:
        db.close_pool()


# Every character class Postgres's array literal treats apart, and some it does not.
AWKWARD = ["", " ", "NULL", "null", 'a"b', "a\\b", '\\"', "a,b", "{x}", "}", " sp ", "tab\tx",
           "new\nline", "é✓", "\u3000", "\U0001f600", "user_2abc", "+12025550123"]  # fmt: skip


def random_lists(seed: int) -> list[list[str | None]]:
    rng = random.Random(seed)
    alphabet = [*'"\\,{} \t\nNUL', "a", "é", "✓", "\u3000", "\U0001f600"]
    unescaped = [text for text in AWKWARD if '"' not in text and "\\" not in text]
    lists: list[list[str | None]] = [[], [None], [""], AWKWARD, [*AWKWARD, None], unescaped]
    for _ in range(200):
        size = rng.randrange(0, 8)
        lists.append(
            [
                None if rng.random() < 0.1 else "".join(rng.choices(alphabet, k=rng.randrange(6)))
                for _ in range(size)
            ]
        )
    return lists


def test_lists_of_text_read_back_as_they_were_and_as_psycopg_would_send_them(
    database_url: str,
) -> None:
    with db.connect(database_url) as ours, psycopg.connect(database_url) as theirs:
        assert ours.adapters.get_dumper(list, PyFormat.AUTO) is db.TextArrayDumper
        for values in random_lists(seed=7):
            row = ours.execute(
                "SELECT %(v)s::text[], cardinality(%(v)s::text[]), 'NULL' = ANY(%(v)s)",
                {"v": values},
            ).fetchone()
            assert row is not None
            assert row[0] == values
            assert row[1] == len(values)
            plain = theirs.execute("SELECT %(v)s::text[]", {"v": values}).fetchone()
            assert plain is not None
            assert plain[0] == row[0]


def test_lists_of_other_types_still_go_psycopgs_way(database_url: str) -> None:
    at = datetime(2026, 12, 6, 20, 30, tzinfo=UTC)
    with db.connect(database_url) as conn:
        row = conn.execute(
            "SELECT %s::bigint[], %s::bool[], %s::timestamptz[], %s::text[]",
            [[1, None, 2**40], [True, None], [at, None], [None, None]],
        ).fetchone()
    assert row == ([1, None, 2**40], [True, None], [at, None], [None, None])


def test_a_nul_in_a_list_of_text_is_refused_as_psycopg_refuses_it(database_url: str) -> None:
    with db.connect(database_url) as conn, pytest.raises(psycopg.DataError, match="NUL"):
        conn.execute("SELECT %s::text[]", [["ok", "a\x00b"]])


def test_the_worker_pool_sends_lists_of_text_the_quick_way(database_url: str) -> None:
    db.open_pool(database_url)
    try:
        with db.transaction() as conn:
            dumper = conn.adapters.get_dumper(list, PyFormat.AUTO)
            assert dumper is db.TextArrayDumper
            row = conn.execute("SELECT %s::text[]", [AWKWARD]).fetchone()
            assert row is not None
            assert row[0] == AWKWARD
    finally:
        db.close_pool()
