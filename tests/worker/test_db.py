"""worker.db: every session runs in UTC, whatever the database or the url says by default."""

from __future__ import annotations

import select

import psycopg

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
