"""worker.db: every session runs in UTC, whatever the database or the url says by default."""

from __future__ import annotations

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
