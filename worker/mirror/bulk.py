"""Bulk writes of the mirror: one INSERT per table and batch, never one per row.

A few rows go in as INSERT ... VALUES. More are written by binary COPY into a
session-local stage first, then moved by the same INSERT reading the stage: psycopg
encodes COPY rows in C (per-row executemany and unnest() arrays spent most of the
worker's time in Python parameter dumping; see docs/benchmarks.md). That INSERT empties
its stage as it reads it, because a transaction may write history more than once;
ON COMMIT DELETE ROWS is the net for a rollback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, LiteralString

import psycopg

from worker import db

# Every stage of the mirror's writes (users, phones, and both histories, whose Stages their
# modules define), in one statement: a batch that stages anything creates them all once.
CREATE_STAGES: Final[LiteralString] = """
CREATE TEMP TABLE IF NOT EXISTS user_stage (
    id text, primary_phone_number_id text, two_factor_enabled boolean, totp_enabled boolean,
    backup_code_enabled boolean, created_at timestamptz, updated_at timestamptz,
    deleted_at timestamptz, version_ms bigint, version_event_ms bigint, version_svix_id text
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS phone_stage (
    id text, user_id text, phone_number text, phone_number_hash text, region_code text,
    reserved_for_second_factor boolean, default_second_factor boolean, is_primary boolean,
    verification_status text, verification_strategy text, verification_attempts integer,
    verification_expire_at timestamptz, linked_to jsonb, created_at timestamptz,
    updated_at timestamptz, deleted_at timestamptz, number_type text, is_valid_number boolean,
    is_test_number boolean
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS history_stage (
    seq integer, change text, svix_id text, effective_at timestamptz, event_at timestamptz,
    valid_until timestamptz, id text, user_id text, phone_number text, phone_number_hash text,
    region_code text,
    reserved_for_second_factor boolean, default_second_factor boolean, is_primary boolean,
    verification_status text, verification_strategy text, verification_attempts integer,
    verification_expire_at timestamptz, linked_to jsonb, created_at timestamptz,
    updated_at timestamptz, deleted_at timestamptz, number_type text, is_valid_number boolean,
    is_test_number boolean
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS user_history_stage (
    seq integer, user_id text, change text, primary_phone_number_id text,
    two_factor_enabled boolean, totp_enabled boolean, backup_code_enabled boolean,
    deleted_at timestamptz, svix_id text, effective_at timestamptz, event_at timestamptz
) ON COMMIT DELETE ROWS
"""

# Newest wins, also here: a row only moves forward in version. svix-ids compare by code
# point as in Python (EventKey), never in the database's collation: on an ICU or en_US
# database the two disagree, and a tie would take this row from one event and the
# phones from the other.
UPSERT_USERS: Final[LiteralString] = """
INSERT INTO clerk.users AS u
    (id, primary_phone_number_id, two_factor_enabled, totp_enabled, backup_code_enabled,
     created_at, updated_at, deleted_at, version_ms, version_event_ms, version_svix_id)
SELECT id, primary_phone_number_id, two_factor_enabled, totp_enabled, backup_code_enabled,
       created_at, updated_at, deleted_at, version_ms, version_event_ms, version_svix_id
FROM staged
ON CONFLICT (id) DO UPDATE SET
    primary_phone_number_id = EXCLUDED.primary_phone_number_id,
    two_factor_enabled = EXCLUDED.two_factor_enabled,
    totp_enabled = EXCLUDED.totp_enabled,
    backup_code_enabled = EXCLUDED.backup_code_enabled,
    created_at = EXCLUDED.created_at,
    updated_at = EXCLUDED.updated_at,
    deleted_at = EXCLUDED.deleted_at,
    version_ms = EXCLUDED.version_ms,
    version_event_ms = EXCLUDED.version_event_ms,
    version_svix_id = EXCLUDED.version_svix_id,
    synced_at = now()
WHERE (u.version_ms, u.version_event_ms, u.version_svix_id COLLATE "C")
   <= (EXCLUDED.version_ms, EXCLUDED.version_event_ms, EXCLUDED.version_svix_id COLLATE "C")
"""

UPSERT_PHONES: Final[LiteralString] = """
INSERT INTO clerk.phone_numbers
    (id, user_id, phone_number, phone_number_hash, region_code, reserved_for_second_factor,
     default_second_factor, is_primary, verification_status, verification_strategy,
     verification_attempts, verification_expire_at, linked_to, created_at, updated_at,
     deleted_at, number_type, is_valid_number, is_test_number)
SELECT id, user_id, phone_number, phone_number_hash, region_code, reserved_for_second_factor,
       default_second_factor, is_primary, verification_status, verification_strategy,
       verification_attempts, verification_expire_at, linked_to, created_at, updated_at,
       deleted_at, number_type, is_valid_number, is_test_number
FROM staged
ON CONFLICT (id) DO UPDATE SET
    user_id = EXCLUDED.user_id,
    phone_number = EXCLUDED.phone_number,
    phone_number_hash = EXCLUDED.phone_number_hash,
    region_code = EXCLUDED.region_code,
    reserved_for_second_factor = EXCLUDED.reserved_for_second_factor,
    default_second_factor = EXCLUDED.default_second_factor,
    is_primary = EXCLUDED.is_primary,
    verification_status = EXCLUDED.verification_status,
    verification_strategy = EXCLUDED.verification_strategy,
    verification_attempts = EXCLUDED.verification_attempts,
    verification_expire_at = EXCLUDED.verification_expire_at,
    linked_to = EXCLUDED.linked_to,
    created_at = EXCLUDED.created_at,
    updated_at = EXCLUDED.updated_at,
    deleted_at = EXCLUDED.deleted_at,
    number_type = EXCLUDED.number_type,
    is_valid_number = EXCLUDED.is_valid_number,
    is_test_number = EXCLUDED.is_test_number
"""


# Up to this many rows go in as one INSERT ... VALUES; more are staged by COPY. A COPY
# costs a stage (created once per session, emptied at every commit) and two more round
# trips per table: for the one or two events a quiet drain finds, that fixed cost was
# most of the work (docs/benchmarks.md, Latency).
VALUES_MAX_ROWS = 16

PHONE_COLUMNS = (
    "id", "user_id", "phone_number", "phone_number_hash", "region_code",
    "reserved_for_second_factor", "default_second_factor", "is_primary",
    "verification_status", "verification_strategy", "verification_attempts",
    "verification_expire_at", "linked_to", "created_at", "updated_at", "deleted_at",
    "number_type", "is_valid_number", "is_test_number",
)  # fmt: skip
PHONE_TYPES = (
    "text", "text", "text", "text", "text", "bool", "bool", "bool", "text", "text", "int4",
    "timestamptz", "jsonb", "timestamptz", "timestamptz", "timestamptz", "text", "bool", "bool",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Stage:
    """A target table's rows, in `columns` order, read by `body` as `staged`."""

    table: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    body: LiteralString

    def copy_statement(self) -> str:
        return f"COPY {self.table} FROM STDIN (FORMAT BINARY)"

    def from_stage(self) -> str:
        # The INSERT empties the stage as it reads it: a transaction may write twice.
        # (table and body are this module's constants, never input.)
        return f"WITH staged AS (DELETE FROM {self.table} RETURNING *){self.body}"  # noqa: S608

    def from_values(self, count: int) -> str:
        return _values_statement(self, count)


# The VALUES statements number their parameters ($1, $2, ...) and run on a RawCursor: a
# statement with more than 50 %s placeholders is parsed again by psycopg at every run (its
# cache keeps only smaller ones): 430 µs for 16 phones, about 7% of the worker's Python in
# a paced load and a tenth of a 10-event batch's client CPU (docs/benchmarks.md).
@lru_cache(maxsize=64)
def _values_statement(stage: Stage, count: int) -> str:
    width = len(stage.types)
    rows = (
        "(" + ", ".join(f"${r * width + c + 1}::{t}" for c, t in enumerate(stage.types)) + ")"
        for r in range(count)
    )
    columns = ", ".join(stage.columns)
    return f"WITH staged ({columns}) AS (VALUES {', '.join(rows)}){stage.body}"


USERS = Stage(
    "user_stage",
    ("id", "primary_phone_number_id", "two_factor_enabled", "totp_enabled",
     "backup_code_enabled", "created_at", "updated_at", "deleted_at", "version_ms",
     "version_event_ms", "version_svix_id"),
    ("text", "text", "bool", "bool", "bool", "timestamptz", "timestamptz", "timestamptz",
     "int8", "int8", "text"),
    UPSERT_USERS,
)  # fmt: skip
PHONES = Stage("phone_stage", PHONE_COLUMNS, PHONE_TYPES, UPSERT_PHONES)


# Where a write goes: a connection (at once) or a Tail (with the batch's last round trip).
Executor = db.Executor
Params = dict[str, Any] | list[Any] | None


class Tail:
    """Statements whose results nobody reads, sent together in one pipeline by send().

    A batch's writes after its fold (history, derived columns and facts, locks, upserts,
    closing the inbox rows) need nothing back but errors: one round trip for them all
    instead of one each. The server runs them in order, each with its own snapshot, as if
    sent one by one; the first error is raised by send(), and the rest are skipped.
    """

    def __init__(self) -> None:
        self._statements: list[tuple[type[psycopg.Cursor[Any]], LiteralString, Params]] = []
        # Whether this batch's transaction has run CREATE_STAGES.
        self.staging = False

    def execute(self, query: LiteralString, params: Params = None) -> None:
        self._statements.append((psycopg.Cursor, query, params))

    def execute_raw(self, query: LiteralString, params: list[Any]) -> None:
        """A statement with $1, $2, ... placeholders (run on a psycopg.RawCursor)."""
        self._statements.append((psycopg.RawCursor, query, params))

    def send(self, conn: psycopg.Connection) -> None:
        statements, self._statements = self._statements, []
        if len(statements) == 1:
            cursor, query, params = statements[0]
            cursor(conn).execute(query, params)
        elif statements:
            with conn.pipeline():
                for cursor, query, params in statements:
                    cursor(conn).execute(query, params)


def write(
    conn: psycopg.Connection,
    stage: Stage,
    rows: Iterable[tuple[Any, ...]],
    out: Executor | None = None,
) -> None:
    """Write rows (in the stage's column order) into the table in one INSERT, sent to out
    (a Tail; conn itself by default, or when out is not a Tail). More than VALUES_MAX_ROWS
    are staged by COPY now, on conn (COPY cannot go in a pipeline): out's next statement
    that reads the stage must be this write's INSERT."""
    rows = list(rows)
    if not rows:
        return
    if out is None:
        out = conn
    if len(rows) <= VALUES_MAX_ROWS:
        params = [value for row in rows for value in row]
        statement = stage.from_values(len(rows))
        if isinstance(out, Tail):
            out.execute_raw(statement, params)
        else:
            psycopg.RawCursor(conn).execute(statement, params)
        return
    if not isinstance(out, Tail) or not out.staging:
        conn.execute(CREATE_STAGES)
    if isinstance(out, Tail):
        out.staging = True
    with conn.cursor().copy(stage.copy_statement()) as copy:
        copy.set_types(stage.types)
        for row in rows:
            copy.write_row(row)
    out.execute(stage.from_stage())
