"""The mirror's bulk writes: a few rows as one INSERT ... VALUES, numbered $1, $2, ..."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import psycopg
import pytest

from worker.mirror import bulk

AT = datetime(2025, 1, 1, tzinfo=UTC)


def _user(i: int) -> tuple[object, ...]:
    return (f"user_bulk_{i:02d}", None, i % 2 == 0, False, i % 3 == 0, AT, AT, None, i,
            i, f"msg_bulk_{i}")  # fmt: skip


def test_a_values_statement_numbers_every_parameter_once_in_row_order() -> None:
    for count in (1, 2, bulk.VALUES_MAX_ROWS):
        statement = bulk.PHONES.from_values(count)
        numbers = [int(n) for n in re.findall(r"\$(\d+)::", statement)]
        assert numbers == list(range(1, count * len(bulk.PHONE_COLUMNS) + 1))
        assert "%s" not in statement


@pytest.mark.parametrize("through", ["connection", "tail"])
def test_values_rows_land_in_their_columns(conn: psycopg.Connection, through: str) -> None:
    rows = [_user(i) for i in range(bulk.VALUES_MAX_ROWS)]
    if through == "tail":
        tail = bulk.Tail()
        bulk.write(conn, bulk.USERS, rows, tail)
        assert conn.execute("SELECT count(*) FROM clerk.users").fetchone() == (0,)
        tail.send(conn)
    else:
        bulk.write(conn, bulk.USERS, rows)
    got = conn.execute(
        "SELECT id, two_factor_enabled, backup_code_enabled, version_ms, version_svix_id"
        " FROM clerk.users WHERE id LIKE 'user_bulk_%' ORDER BY id"
    ).fetchall()
    assert got == [(r[0], r[2], r[4], r[8], r[10]) for r in rows]
