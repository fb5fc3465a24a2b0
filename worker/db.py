"""Database connections: the session every one runs in, and one pool per process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import NoneType
from typing import Any, LiteralString, Protocol

import psycopg
from psycopg import pq
from psycopg.abc import Buffer
from psycopg.adapt import AdaptersMap
from psycopg.types.array import ListDumper
from psycopg_pool import ConnectionPool

# Times read back as datetimes in the session's zone, and a server or role may default
# to any zone (Python cannot hold every instant in every one): every session is UTC.
SESSION_OPTIONS = "-c TimeZone=UTC"


class Executor(Protocol):
    """What runs a statement whose result is not read: a connection, or something that
    sends it later (worker.mirror.bulk.Tail, a batch's writes in one round trip)."""

    def execute(
        self, query: LiteralString, params: dict[str, Any] | list[Any] | None = None
    ) -> object: ...


class TextArrayDumper(ListDumper):
    """A list of str (None for NULL) as Postgres's text array literal, each element quoted.

    psycopg's own ListDumper matches every element against a regular expression to learn
    whether it needs quotes: about 3 µs an element, so 2 ms for the 600 ids of a
    backfill's page, and a batch passes several such arrays (docs/benchmarks.md). A quoted
    element reads back as written, whatever it holds; any other list goes psycopg's way,
    and so does a str it refuses (a NUL), for psycopg's own error.
    """

    def dump(self, obj: list[Any]) -> Buffer | None:
        types = set(map(type, obj))
        if not types <= {str, NoneType}:  # a str subclass may have a dumper of its own
            return super().dump(obj)
        if types == {str}:
            text = "".join(obj)
            if '"' not in text and "\\" not in text:  # nothing to escape
                return self._encoded(obj, '{"' + '","'.join(obj) + '"}')
        return self._encoded(obj, "{" + ",".join(map(_element, obj)) + "}")

    def _encoded(self, obj: list[Any], literal: str) -> Buffer | None:
        if "\x00" in literal:
            return super().dump(obj)
        try:
            return literal.encode(self._tx.encoding)
        except UnicodeEncodeError:
            return super().dump(obj)


def _element(item: str | None) -> str:
    if item is None:
        return "NULL"
    return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'


# What every connection of this project dumps parameters with (worker.db's, and the web's
# pool): psycopg's, but for lists.
ADAPTERS = AdaptersMap(psycopg.adapters)
ADAPTERS.register_dumper(list, TextArrayDumper)

_pool: ConnectionPool | None = None
_lock = threading.Lock()


# A server gone without a word (its host lost, the network between cut) leaves a connection
# waiting for an answer that never comes, and libpq's keepalives run on the kernel's
# defaults: a dead peer is noticed after 2 h 11 min, all that time a web thread or a
# worker's drain held. With these, after about a minute (30 s idle, then 3 probes 10 s
# apart): the web answers 503 and the worker's task retries. A live server's kernel
# answers the probes however long its query runs. Each is the url's own when it names it.
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}


def conninfo(url: str) -> str:
    """The url with this project's session settings added after any options it names, and
    the keepalives it does not name."""
    named = psycopg.conninfo.conninfo_to_dict(url)
    given = named.get("options")
    options = f"{given} {SESSION_OPTIONS}" if given else SESSION_OPTIONS
    keepalives = {name: value for name, value in KEEPALIVES.items() if name not in named}
    return psycopg.conninfo.make_conninfo(url, options=options, **keepalives)


def connect(url: str, *, autocommit: bool = False, **params: Any) -> psycopg.Connection:
    """A direct connection in this project's session settings; params are libpq's."""
    return psycopg.connect(conninfo(url), autocommit=autocommit, context=ADAPTERS, **params)


def still_connected(conn: psycopg.Connection) -> None:
    """The pool's check before it hands a connection out: reads whatever the server sent
    while it sat in the pool, and raises when that was the end (a restart's or a crash's
    closed socket). No round trip: the empty query psycopg_pool's own check sends cost each
    drain's batch one, with a backend wake-up, and a connection lost in silence still fails
    its batch, which the task retries (worker.tasks)."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    # The first read may return only the server's last words (a FATAL, as a notice); the
    # second meets the end of file. Each raises psycopg.OperationalError there, and neither
    # waits: the socket is non-blocking.
    conn.pgconn.consume_input()
    conn.pgconn.consume_input()
    if conn.pgconn.status != pq.ConnStatus.OK:
        raise psycopg.OperationalError("the connection is lost")


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
                check=still_connected,
                kwargs={"context": ADAPTERS},
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


# Sessions the server ends: admin or crash shutdown, cannot connect now, database
# dropped, idle session timeout. Not 57014 (a statement_timeout): that one is the batch's.
_SESSION_ENDED = ("57P01", "57P02", "57P03", "57P04", "57P05")


def connection_lost(conn: psycopg.Connection, exc: BaseException) -> bool:
    """True when exc means the connection is gone, so only a retry later can help.

    Every other error, OperationalError included (a statement_timeout, a lock_timeout,
    a full disk, a deadlock), belongs to the work that met it: callers isolate it to its
    user instead of retrying the same batch and stopping the whole inbox. psycopg marks
    the connection broken when the socket dies; class 08 and the 57P0x codes cover a
    server that says so before it hangs up; no SQLSTATE means libpq itself lost it.
    """
    if conn.broken or conn.closed:
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _SESSION_ENDED


def describe_error(exc: BaseException) -> str:
    """One line for last_error: a database error's DETAIL and CONTEXT (which may quote
    the row, a phone number included) stay out; the log has the traceback."""
    message = str(exc).partition("\n")[0]
    return f"{type(exc).__name__}: {message}"[:500]
