"""The inbox: where a verified event is made durable before we answer 2xx."""

from __future__ import annotations

import re
from typing import Any, Final

import psycopg
from psycopg import pq

from worker.inbox import queries, redact
from worker.mirror.events import APPLIED_TYPES, Envelope

# INSERT_EVENT as a server-side prepared statement for store_webhook: its named
# parameters in order, their types (text, bytea, bigint) and the statement's name.
_NAMES: Final = tuple(dict.fromkeys(re.findall(r"%\((\w+)\)s", queries.INSERT_EVENT)))
_SQL: Final = re.sub(
    r"%\((\w+)\)s", lambda m: f"${_NAMES.index(m[1]) + 1}", queries.INSERT_EVENT
).encode()
_TYPES: Final = [{"payload": 17, "version_ms": 20, "event_ms": 20}.get(n, 25) for n in _NAMES]
_FORMATS: Final = [1 if name == "payload" else 0 for name in _NAMES]  # the body as binary
_PREPARED: Final = b"clerk_mirror_inbox_insert"
_UNDEFINED_PREPARED: Final = "26000"  # invalid_sql_statement_name


def store_event(
    conn: psycopg.Connection,
    svix_id: str,
    payload: bytes | None,
    env: Envelope,
    *,
    source: str = "webhook",
) -> bool:
    """Insert one event; False when the svix-id was already there (a redelivery).

    An erased user's event is stored without its payload and closed as ignored. Only what
    the mirror applies is kept of the payload (worker.inbox.redact), here, before the commit.
    """
    cur = conn.execute(queries.INSERT_EVENT, _params(svix_id, payload, env, source))
    return cur.rowcount == 1


def store_webhook(conn: psycopg.Connection, svix_id: str, payload: bytes, env: Envelope) -> bool:
    """store_event for the web, on an autocommit connection: the same statement, sent
    prepared through libpq, without psycopg's per-call adaptation of nine parameters
    (about half the web's own CPU for the inbox write). Anything but success is run again
    through store_event, which raises psycopg's own error for it: a failed statement
    stored nothing, and a broken connection fails again the same way."""
    if not conn.autocommit:
        return store_event(conn, svix_id, payload, env)
    params = _params(svix_id, payload, env, "webhook")
    encoding = conn.info.encoding
    # None is SQL NULL to libpq, as psycopg itself sends it (its stubs leave None out).
    values: list[Any] = [
        v if isinstance(v, bytes) or v is None else str(v).encode(encoding)
        for v in (params[name] for name in _NAMES)
    ]
    pgconn = conn.pgconn
    result = pgconn.exec_prepared(_PREPARED, values, _FORMATS)
    # Not prepared on this connection (one the web's pool did not open, or a DEALLOCATE).
    if _undefined(result) and _prepare(conn):
        result = pgconn.exec_prepared(_PREPARED, values, _FORMATS)
    if result.status != pq.ExecStatus.COMMAND_OK:
        return store_event(conn, svix_id, payload, env)
    return result.command_tuples == 1


def prepare_webhook_insert(conn: psycopg.Connection) -> None:
    """Prepare store_webhook's statement on a new connection (the web pool's configure), so
    that its first use is not a failed attempt, which Postgres logs as an ERROR once per
    connection. A refusal (a database not migrated yet) is left to that first use, which
    prepares again and otherwise answers with psycopg's own error."""
    _prepare(conn)


def _prepare(conn: psycopg.Connection) -> bool:
    """Prepare store_webhook's statement; True when the server took it."""
    return conn.pgconn.prepare(_PREPARED, _SQL, _TYPES).status == pq.ExecStatus.COMMAND_OK


def _undefined(result: pq.abc.PGresult) -> bool:
    code = result.error_field(pq.DiagnosticField.SQLSTATE)
    return result.status == pq.ExecStatus.FATAL_ERROR and code == _UNDEFINED_PREPARED.encode()


def _params(svix_id: str, payload: bytes | None, env: Envelope, source: str) -> dict[str, object]:
    status = "pending" if env.event_type in APPLIED_TYPES else "ignored"
    return {
        "svix_id": svix_id,
        "event_type": env.event_type,
        "payload": redact.kept(env.event_type, payload),
        "user_id": env.user_id,
        "version_ms": env.version_ms,
        "event_ms": env.event_ms,
        "status": status,
        "source": source,
        "erased_note": queries.ERASED_NOTE,
    }


def store_failed(
    conn: psycopg.Connection,
    svix_id: str,
    payload: bytes | None,
    env: Envelope,
    error: str,
    source: str,
) -> None:
    """Record an event that could not be stored as it is: a failed row with the reason,
    for an operator to redrive; nothing when the svix-id is there already."""
    conn.execute(queries.STORE_FAILED, {**_params(svix_id, payload, env, source), "error": error})
