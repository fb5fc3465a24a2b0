"""Apply sql/migrations/*.sql in order, each once, under an advisory lock."""

from __future__ import annotations

import hashlib
from pathlib import Path

from psycopg import sql

from worker import db

# Any constant shared by every release: two releases migrating at once queue up here.
LOCK_ID = 0x436C65726B4D6972  # "ClerkMir"

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS clerk;
CREATE TABLE IF NOT EXISTS clerk.schema_migrations (
    version    text        PRIMARY KEY,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    pass


def migrations_dir() -> Path:
    """The migrations shipped with the package (or beside it, in a checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "sql" / "migrations", here.parent / "sql" / "migrations"):
        if candidate.is_dir():
            return candidate
    raise MigrationError("sql/migrations not found next to the worker package")


def migrate(url: str, directory: Path | None = None) -> list[str]:
    """Apply what is missing and return the versions applied (empty when up to date)."""
    files = sorted((directory or migrations_dir()).glob("*.sql"))
    applied: list[str] = []
    with db.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
        try:
            with conn.transaction():
                conn.execute(_BOOTSTRAP)
            done: dict[str, str] = dict(
                conn.execute("SELECT version, checksum FROM clerk.schema_migrations")
            )
            for path in files:
                text = path.read_text()
                checksum = hashlib.sha256(text.encode()).hexdigest()
                if path.stem in done:
                    if done[path.stem] != checksum:
                        raise MigrationError(f"{path.name} changed after it was applied")
                    continue
                with conn.transaction():
                    conn.execute(sql.SQL(text))  # a file of ours, not input
                    conn.execute(
                        "INSERT INTO clerk.schema_migrations (version, checksum) VALUES (%s, %s)",
                        (path.stem, checksum),
                    )
                applied.append(path.stem)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
    return applied
