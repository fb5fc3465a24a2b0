"""Throwaway databases for a bench run, and fast set-up loads (COPY: set-up, not measured)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from worker import migrate
from worker.db import connect
from worker.mirror.events import envelope

SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

CREATE_STAGE = """
CREATE TEMP TABLE stage (svix_id text, event_type text, payload bytea, user_id text,
    version_ms bigint, event_ms bigint, received_at timestamptz) ON COMMIT DROP
"""
COPY_STAGE = (
    "COPY stage (svix_id, event_type, payload, user_id, version_ms, event_ms, received_at)"
    " FROM STDIN"
)
# Redeliveries in the load collapse exactly as they do at the endpoint.
STAGE_TO_INBOX = """
INSERT INTO clerk.webhook_events
    (svix_id, event_type, payload, user_id, version_ms, event_ms, received_at, status)
SELECT svix_id, event_type, payload, user_id, version_ms, event_ms, received_at, 'pending'
FROM stage
ON CONFLICT (svix_id) DO NOTHING
"""


def with_dbname(url: str, name: str) -> str:
    return psycopg.conninfo.make_conninfo(url, dbname=name)


def create(server_url: str = SERVER_URL, *, migrated: bool = True) -> str:
    """A fresh uniquely named database (migrated); returns its URL."""
    name = f"cpm_bench_{uuid.uuid4().hex[:10]}"
    with connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(server_url, name)
    if migrated:
        migrate.migrate(url)
    return url


def drop(url: str, server_url: str = SERVER_URL) -> None:
    name = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
    with connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def print_measured(measure: Callable[[str], Any]) -> None:
    """Print as JSON what measure returns for a fresh database on DATABASE_URL's server (else
    the local one), which is dropped after: the command line of a standalone probe."""
    server = os.environ.get("DATABASE_URL") or SERVER_URL
    url = create(server)
    try:
        print(json.dumps(measure(url)))
    finally:
        drop(url, server)


def load_inbox(url: str, events: Iterable[tuple[str, bytes]]) -> int:
    """Put events in the inbox as pending, in the given arrival order; returns rows stored."""
    with connect(url) as conn, conn.transaction():
        conn.execute(CREATE_STAGE)
        with conn.cursor().copy(COPY_STAGE) as copy:
            start = datetime.now(tz=UTC) - timedelta(minutes=1)
            for i, (svix_id, body) in enumerate(events):
                env = envelope(json.loads(body))
                assert env is not None
                received = start + timedelta(microseconds=i)
                row = (svix_id, env.event_type, body, env.user_id, env.version_ms, env.event_ms)
                copy.write_row((*row, received))
        return conn.execute(STAGE_TO_INBOX).rowcount
