"""Helpers that drive the real apply code the way the web and the worker do."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.support.bodies import fixture_body
from worker.inbox import insert as inbox
from worker.mirror import apply as mirror
from worker.mirror.events import envelope

# CLERK_MIRROR_PII_KEY as a worker's settings would hand it in: tests that hash set it
# (monkeypatch.setattr(helpers, "PII_KEY", ...)); None writes no hash, as without a key.
PII_KEY: bytes | None = None

PHONE_COLUMNS = (
    "phone_number, region_code, reserved_for_second_factor, default_second_factor, is_primary, "
    "verification_status, verification_strategy, verification_attempts, "
    "verification_expire_at, linked_to, created_at, updated_at, deleted_at"
)


def put(conn: psycopg.Connection, body: dict[str, Any] | str, svix_id: str) -> bool:
    """Store an event in the inbox exactly as the endpoint does."""
    if isinstance(body, str):
        body = fixture_body(body)
    raw = json.dumps(body).encode()
    env = envelope(body)
    assert env is not None
    return inbox.store_event(conn, svix_id, raw, env)


def drain(conn: psycopg.Connection) -> None:
    while mirror.apply_pending(conn, pii_key=PII_KEY).claimed:
        pass


def deliver(conn: psycopg.Connection, events: list[tuple[str, str]]) -> None:
    """Deliver (fixture, svix_id) pairs one at a time, applying after each."""
    for name, svix_id in events:
        put(conn, name, svix_id)
        drain(conn)


def mirror_state(conn: psycopg.Connection) -> dict[str, list[dict[str, Any]]]:
    """Everything reporting can see, minus columns that record when we learned it."""
    with conn.cursor(row_factory=dict_row) as cur:
        users = cur.execute(
            "SELECT id, primary_phone_number_id, two_factor_enabled, totp_enabled,"
            " backup_code_enabled, created_at, updated_at, deleted_at FROM clerk.users ORDER BY id"
        ).fetchall()
        phones = cur.execute(
            f"SELECT id, user_id, {PHONE_COLUMNS} FROM clerk.phone_numbers ORDER BY id"  # noqa: S608
        ).fetchall()
        history = cur.execute(
            f"SELECT phone_number_id, user_id, change, svix_id, effective_at, {PHONE_COLUMNS}"  # noqa: S608
            " FROM clerk.phone_number_history ORDER BY phone_number_id, effective_at, change"
        ).fetchall()
    return {"users": users, "phones": phones, "history": history}


def statuses(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT svix_id, status FROM clerk.webhook_events").fetchall())
