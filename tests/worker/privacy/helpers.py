"""Search the whole clerk schema for a person's traces: every text, jsonb and bytea value."""

from __future__ import annotations

import psycopg
from psycopg import sql

# Every column whose values could hold a number as text; bytea is read as escaped text,
# which leaves digits and '+' as they are (reading a TOASTed payload decompresses it).
TEXT_COLUMNS = """
SELECT c.relname, a.attname, t.typname
FROM pg_attribute AS a
JOIN pg_class AS c ON c.oid = a.attrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_type AS t ON t.oid = a.atttypid
WHERE n.nspname = 'clerk' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND t.typname IN ('text', 'varchar', 'bpchar', 'json', 'jsonb', 'bytea', '_text')
ORDER BY 1, 2
"""


def searched_columns(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    return [(t, c, k) for t, c, k in conn.execute(TEXT_COLUMNS)]


def traces(conn: psycopg.Connection, needles: set[str]) -> list[tuple[str, str, int]]:
    """(table, column, rows) wherever a needle occurs in a value, in schema clerk."""
    found = []
    for table, column, kind in searched_columns(conn):
        name = sql.Identifier(column)
        value = (
            sql.SQL("encode({}, 'escape')").format(name)
            if kind == "bytea"
            else sql.SQL("{}::text").format(name)
        )
        query = sql.SQL(
            "SELECT count(*) FROM {t} WHERE EXISTS"
            " (SELECT FROM unnest({needles}::text[]) AS n WHERE strpos({v}, n) > 0)"
        ).format(t=sql.Identifier("clerk", table), v=value, needles=sql.Placeholder("needles"))
        row = conn.execute(query, {"needles": sorted(needles)}).fetchone()
        if row and row[0]:
            found.append((table, column, int(row[0])))
    return found


def with_and_without_plus(numbers: set[str]) -> set[str]:
    return {n for number in numbers for n in (number, number.removeprefix("+"))}
