"""Bring the clerk schema up to date: migrations once each, then the changed views and functions.

Under one advisory lock. First sql/migrations/*.sql in order, each once, each in its own
transaction; one edited after it was applied is refused. Then, in one transaction, every file
of sql/views and sql/reports whose text differs from the one last run there (all of them on a
database that ran none yet), or one of whose objects is missing: Flyway's repeatable rule. A
file re-creates its objects with CREATE OR REPLACE; one that changes a signature says DROP
first, without CASCADE, so that a view someone built on ours stops the migrate, loudly,
before anything changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final, LiteralString

import psycopg
from psycopg import sql

from worker import db, sqlfiles

# Any constant shared by every release: two releases migrating at once queue up here.
LOCK_ID = 0x436C65726B4D6972  # "ClerkMir"

_BOOTSTRAP: Final[LiteralString] = """
CREATE SCHEMA IF NOT EXISTS clerk;
CREATE TABLE IF NOT EXISTS clerk.schema_migrations (
    version    text        PRIMARY KEY,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()

)
"""
_DONE_VERSIONS: Final[LiteralString] = "SELECT version, checksum FROM clerk.schema_migrations"
_DONE_REPEATABLES: Final[LiteralString] = "SELECT path, checksum FROM clerk.schema_repeatables"
_RECORD_VERSION: Final[LiteralString] = (
    "INSERT INTO clerk.schema_migrations (version, checksum) VALUES (%s, %s)"
)
_RECORD_REPEATABLE: Final[LiteralString] = """
INSERT INTO clerk.schema_repeatables (path, checksum) VALUES (%s, %s)
ON CONFLICT (path) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()
"""
# Whether an object a file defines (named as in its COMMENT ON) exists.
_EXISTS: Final[dict[str, LiteralString]] = {
    "VIEW": "SELECT to_regclass(%s) IS NOT NULL",
    "FUNCTION": "SELECT to_regprocedure(%s) IS NOT NULL",
}


class MigrationError(RuntimeError):
    """A migration could not run; the message is one line that names the file."""


@dataclass(frozen=True, slots=True)
class Migrated:
    versions: tuple[str, ...]  # the migrations applied, e.g. 0013_x
    objects: tuple[str, ...]  # the files of views and functions run, e.g. reports/04_integrity.sql


def migrations_dir() -> Path:
    """The migrations shipped with the package (or beside it, in a checkout)."""
    return sqlfiles.root() / "migrations"


def migrate(url: str, folder: Path | None = None) -> Migrated:
    """Apply what is missing and say what ran (nothing when the schema is up to date)."""
    folder = folder or sqlfiles.root()
    with db.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
        try:
            with conn.transaction():
                conn.execute(_BOOTSTRAP)
            versions = _versioned(conn, folder)
            with conn.transaction():
                objects = _repeatable(conn, folder)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
    return Migrated(tuple(versions), tuple(objects))


def _versioned(conn: psycopg.Connection, folder: Path) -> list[str]:
    done: dict[str, str] = dict(conn.execute(_DONE_VERSIONS))
    applied: list[str] = []
    for path in sqlfiles.migrations(folder):
        text = path.read_text()
        checksum = _checksum(text)
        if path.stem in done:
            if done[path.stem] != checksum:
                raise MigrationError(f"{path.name} changed after it was applied")
            continue
        with conn.transaction():
            _run(conn, f"migrations/{path.name}", text)
            conn.execute(_RECORD_VERSION, (path.stem, checksum))
        applied.append(path.stem)
    return applied


def _repeatable(conn: psycopg.Connection, folder: Path) -> list[str]:
    """Run the files whose text changed or whose objects are missing, in their order.

    clerk.schema_repeatables, where each file's checksum is kept, comes from migration 0013.
    """
    files = sqlfiles.repeatables(folder)
    if not files:
        return []
    done: dict[str, str] = dict(conn.execute(_DONE_REPEATABLES))
    ran: list[str] = []
    for path in files:
        header = sqlfiles.parse(path, folder)
        text = path.read_text()
        checksum = _checksum(text)
        if done.get(header.path) == checksum and _all_exist(conn, header):
            continue
        _run(conn, header.path, text)
        conn.execute(_RECORD_REPEATABLE, (header.path, checksum))
        ran.append(header.path)
    return ran


def _all_exist(conn: psycopg.Connection, header: sqlfiles.Header) -> bool:
    for kind, name, _ in header.comments:
        row = conn.execute(_EXISTS[kind], (name,)).fetchone()
        if not (row and row[0]):
            return False
    return True


def _run(conn: psycopg.Connection, relative: str, text: str) -> None:
    """Run one file of ours; a refusal becomes one line that names the file."""
    try:
        conn.execute(sql.SQL(text))  # a file of ours, not input
    except psycopg.OperationalError:
        raise  # the connection, not the file: the command's own handling says so
    except psycopg.Error as exc:
        raise MigrationError(_one_line(f"sql/{relative}", exc)) from exc


def _one_line(where: str, exc: psycopg.Error) -> str:
    message = (exc.diag.message_primary or str(exc)).strip()
    detail = "; ".join((exc.diag.message_detail or "").split("\n"))
    said = f"{where}: {message}" + (f" ({detail})" if detail else "")
    if isinstance(exc, psycopg.errors.DependentObjectsStillExist):
        said += "; drop or change those objects first (never CASCADE), then migrate again"
    return said


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
