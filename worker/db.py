"""Connection pools: one per process, opened after fork, closed at exit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

_pool: ConnectionPool | None = None
_lock = threading.Lock()


def open_pool(url: str, *, max_size: int = 4, timeout: float = 5.0) -> ConnectionPool:
    """Open this process's pool; connections are made lazily so a down database never blocks."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ConnectionPool(
                url,
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
