"""The schema snapshot, sql/schema.sql: a database built by migrate, as pg_dump prints it.

The snapshot is kept in a normal form that does not depend on the Postgres version (15 on
a Debian machine, 18 from PyPI on a machine without one) or on who migrated:

- no comments, SET lines or \\restrict tokens (pg_dump 17.6 and later print a new one each
  time), no owners, and runs of blank lines folded;
- view definitions without table qualifiers (Postgres 16 and later leave them out where
  one table is read; 15 writes them everywhere);
- no lz4 compression of the inbox's payload (0005 keeps pglz where a build has no lz4);
- the migrating role named `owner`.

`python -m tests.support.schema` (make schema) writes it anew from a throwaway database on
DATABASE_URL's server, else on the local one (127.0.0.1:5432).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg

from tests.support.databases import create_database, drop_database, with_dbname
from worker import migrate
from worker.dev import binaries

SNAPSHOT = Path(__file__).resolve().parents[2] / "sql" / "schema.sql"
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
_DROPPED = ("--", "\\restrict", "\\unrestrict", "SET ", "SELECT pg_catalog.set_config(")
_LZ4 = re.compile(r"^ALTER TABLE ONLY clerk\.webhook_events ALTER COLUMN payload SET COMPRESSION")
# A qualifier in a view's definition: `p.` in `p.region_code`, never inside a word or number.
_QUALIFIER = re.compile(r'(?<![\w".])[a-z_][a-z0-9_]*\.(?=[a-z_"])')
_DEFAULT_PRIVILEGES = re.compile(r"^(ALTER DEFAULT PRIVILEGES FOR ROLE) \S+ (.*?)  ?(TO .*)$")


def normal_form(dump: str) -> str:
    """pg_dump's text in the snapshot's normal form (see the module docstring)."""
    kept: list[str] = []
    in_view = False
    for line in dump.splitlines():
        if line.startswith(_DROPPED) or _LZ4.match(line):
            continue
        if in_view:
            line = _QUALIFIER.sub("", line)
            in_view = not line.rstrip().endswith(";")
        elif line.startswith("CREATE VIEW "):
            in_view = not line.rstrip().endswith(";")
        line = _DEFAULT_PRIVILEGES.sub(r"\1 owner \2 \3", line)
        kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip() + "\n"


def pg_dump_for(url: str) -> Path:
    """A pg_dump of the server's major version (or newer): pg_dump refuses an older one."""
    with psycopg.connect(url) as conn:
        major = conn.info.server_version // 10000
    found = [
        binaries.SYSTEM_POSTGRES / str(major) / "bin" / "pg_dump",
        *(d / "pg_dump" for d in _wheel_bindirs()),
        *([Path(p)] if (p := shutil.which("pg_dump")) else []),
    ]
    for candidate in found:
        if candidate.exists() and _major(candidate) >= major:
            return candidate
    raise RuntimeError(
        f"no pg_dump for Postgres {major}: install postgresql-client-{major} (apt-get)"
    )


def _wheel_bindirs() -> list[Path]:
    dirs = []
    for module, _ in binaries.POSTGRES_WHEELS:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin is not None:
            dirs.append(Path(spec.origin).parent / "pginstall" / "bin")
    return dirs


def _major(pg_dump: Path) -> int:
    out = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=True)
    return int(re.findall(r"\d+", out.stdout)[0])


def dump(url: str) -> str:
    """The schema of the database at url, in the snapshot's normal form."""
    done = subprocess.run(
        [pg_dump_for(url), "--schema-only", "--no-owner", "--dbname", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return normal_form(done.stdout)


def built_by_migrate(server_url: str) -> str:
    """The normal-form schema of a new database built by migrate on the server."""
    name = create_database(server_url)
    try:
        url = with_dbname(server_url, name)
        migrate.migrate(url)
        return dump(url)
    finally:
        drop_database(server_url, name)


def main() -> None:
    server = os.environ.get("DATABASE_URL") or LOCAL_SERVER
    SNAPSHOT.write_text(built_by_migrate(server))
    print(f"wrote {SNAPSHOT}", file=sys.stderr)


if __name__ == "__main__":
    main()
