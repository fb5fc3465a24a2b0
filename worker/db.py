"""Database connections: the session every one runs in, and one pool per process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

# Times read back as datetimes in the session's zone, and a server or role may default
# to any zone (Python cannot hold every instant in every one): every session is UTC.
SESSION_OPTIONS = "-c TimeZone=UTC"

_pool: ConnectionPool | None = None
_lock = threading.Lock()


def conninfo(url: str) -> str:
    """The url with this project's session settings added after any options it names."""
    given = psycopg.conninfo.conninfo_to_dict(url).get("options")
    options = f"{given} {SESSION_OPTIONS}" if given else SESSION_OPTIONS
    return psycopg.conninfo.make_conninfo(url, options=options)


def connect(url: str, *, autocommit: bool = False, **params: Any) -> psycopg.Connection:
    """A direct connection in this project's session settings; params are libpq's."""
    return psycopg.connect(conninfo(url), autocommit=autocommit, **params)


def open_pool(url: str, *, max_size: int = 4, timeout: float = 5.0) -> ConnectionPool:
    """Open this process's pool; connections are made lazily so a down database never blocks."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ConnectionPool(
                conninfo(url),
                min_size=1,
                max_size=max_size,
                timeout=timeout,
                open=True,
                check=ConnectionPool.check_connection,
                name="clerk-mirror",
            )
        return _pool


def close_pool() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.close()
            _pool = None


def pool() -> ConnectionPool:
    if _pool is None:
        raise RuntimeError("the database pool is not open: call worker.db.open_pool() first")
    return _pool


@contextmanager
def transaction() -> Iterator[psycopg.Connection]:
    """A pooled connection inside one transaction: committed on success, else rolled back."""
    with pool().connection() as conn, conn.transaction():
        yield conn
