"""Throwaway databases: a unique name each, on the default collation or a far one."""

from __future__ import annotations

import uuid

import psycopg
import pytest

# The databases a test can run on: the server's default, and one whose collation and
# TimeZone are as far from C and UTC as a deployment's may be. Tests that order or read
# times run on both (every_database); the far one is built only when one asks for it.
DEFAULT, FAR = "server_default", "icu_kiritimati"
FAR_ZONE = "Pacific/Kiritimati"
_FAR_LOCALE = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"


def with_dbname(url: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)


def create_database(server_url: str, template: str | None = None, *, far: bool = False) -> str:
    """A new database (empty, or a copy of template); far: ICU-collated, in FAR_ZONE."""
    name = f"cpm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        # Generated names and constants only: nothing here comes from input.
        if template:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        elif far:
            conn.execute(f'CREATE DATABASE "{name}" {_FAR_LOCALE}')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')
        if far:
            # A copy takes its template's collation but not its settings: set the zone.
            conn.execute(f"ALTER DATABASE \"{name}\" SET timezone = '{FAR_ZONE}'")
    return name


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def every_database(metafunc: pytest.Metafunc) -> None:
    """Run the test once per database flavor (for a pytest_generate_tests hook)."""
    if "db_flavor" in metafunc.fixturenames:
        metafunc.parametrize("db_flavor", [DEFAULT, FAR], indirect=True)
