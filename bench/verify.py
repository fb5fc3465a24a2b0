"""Check the fast path against one-by-one application: same rows, same history."""

from __future__ import annotations

import json
import random
from typing import Any

from worker.db import connect
from worker.inbox import insert as inbox
from worker.mirror import apply as mirror
from worker.mirror.events import envelope

USERS = """
SELECT id, primary_phone_number_id, two_factor_enabled, totp_enabled, backup_code_enabled,
       created_at, updated_at, deleted_at
FROM clerk.users WHERE id = ANY(%(ids)s) ORDER BY id
"""
PHONES = """
SELECT id, user_id, phone_number, region_code, reserved_for_second_factor,
       default_second_factor, is_primary, verification_status, verification_strategy,
       verification_attempts, verification_expire_at, linked_to, created_at, updated_at,
       deleted_at
FROM clerk.phone_numbers WHERE user_id = ANY(%(ids)s) ORDER BY id
"""
# Everything but history_id and recorded_at, which say when the mirror learned it.
HISTORY = """
SELECT phone_number_id, user_id, change, svix_id, effective_at, phone_number, region_code,
       reserved_for_second_factor, default_second_factor, is_primary, verification_status,
       verification_strategy, verification_attempts, verification_expire_at, linked_to,
       created_at, updated_at, deleted_at
FROM clerk.phone_number_history WHERE user_id = ANY(%(ids)s)
ORDER BY phone_number_id, effective_at, change, svix_id
"""


def mirror_rows(url: str, user_ids: list[str]) -> dict[str, list[Any]]:
    with connect(url) as conn:
        return {
            name: conn.execute(query, {"ids": user_ids}).fetchall()
            for name, query in (("users", USERS), ("phones", PHONES), ("history", HISTORY))
        }


def apply_one_by_one(url: str, events: list[tuple[str, bytes]]) -> None:
    """Deliver events in the given order, applying after each, as a quiet system would."""
    with connect(url) as conn:
        for svix_id, body in events:
            env = envelope(json.loads(body))
            assert env is not None
            with conn.transaction():
                inbox.store_event(conn, svix_id, body, env)
            with conn.transaction():
                mirror.apply_pending(conn)


def sample_users(events: list[tuple[str, bytes]], count: int, seed: int = 3) -> list[str]:
    ids = sorted({json.loads(body)["data"]["id"] for _, body in events})
    return sorted(random.Random(seed).sample(ids, min(count, len(ids))))


def events_of(events: list[tuple[str, bytes]], user_ids: list[str]) -> list[tuple[str, bytes]]:
    wanted = set(user_ids)
    return [(i, body) for i, body in events if json.loads(body)["data"]["id"] in wanted]
