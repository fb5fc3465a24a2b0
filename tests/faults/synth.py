"""Many users' user.updated events, made from the fixture bodies, and the truth they imply."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import psycopg

from tests.support.bodies import fixture_body
from worker.inbox import insert as inbox
from worker.mirror.events import envelope

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STATUSES = ("unverified", "verified", "expired", "failed")

Event = tuple[str, dict[str, Any]]


def user_id(user: int) -> str:
    return f"user_fault{user:06d}"


def snapshot(user: int, version: int) -> Event:
    """Version `version` of user `user`: 1 to 3 of 4 possible phones, shuffled values."""
    rng = random.Random(user * 7919 + version)
    body = copy.deepcopy(fixture_body("user.updated__second_phone_expired"))
    data = body["data"]
    template = data["phone_numbers"][0]
    updated_ms = BASE_MS + version * 60_000 + user
    phones = []
    for slot in sorted(rng.sample(range(4), rng.randint(1, 3))):
        phone = copy.deepcopy(template)
        phone["id"] = f"idn_fault{user:06d}p{slot}"
        phone["phone_number"] = f"+1202555{(user * 4 + slot) % 10_000:04d}"
        phone["verification"] = {
            "object": "verification_otp",
            "status": rng.choice(STATUSES),
            "strategy": "phone_code",
            "attempts": rng.randint(0, 3),
            "expire_at": updated_ms + 600_000,
        }
        phone["reserved_for_second_factor"] = rng.random() < 0.5
        phone["default_second_factor"] = rng.random() < 0.3
        phone["updated_at"] = updated_ms
        phones.append(phone)
    data.update(
        id=user_id(user),
        phone_numbers=phones,
        primary_phone_number_id=phones[0]["id"] if rng.random() < 0.8 else None,
        two_factor_enabled=rng.random() < 0.5,
        totp_enabled=rng.random() < 0.5,
        backup_code_enabled=rng.random() < 0.5,
        created_at=BASE_MS,
        updated_at=updated_ms,
    )
    body["type"] = "user.created" if version == 0 else "user.updated"
    body["timestamp"] = updated_ms + 20
    return f"fault_{user:06d}_{version:02d}", body


def burst(users: int, versions: int) -> list[Event]:
    """Every version of every user, oldest version first."""
    return [snapshot(u, v) for v in range(versions) for u in range(users)]


def store(conn: psycopg.Connection, events: list[Event]) -> None:
    """Put events in the inbox, exactly as the endpoint stores each."""
    for svix_id, body in events:
        env = envelope(body)
        assert env is not None
        inbox.store_event(conn, svix_id, json.dumps(body).encode(), env)


def store_at(url: str, events: list[Event]) -> None:
    """Store events in one committed transaction."""
    with psycopg.connect(url) as conn:
        store(conn, events)


def newest_per_user(events: list[Event]) -> dict[str, tuple[int, set[str]]]:
    """Each user's newest updated_at (ms) and the phone ids that snapshot lists."""
    newest: dict[str, tuple[int, set[str]]] = {}
    for _, body in events:
        data = body["data"]
        if data["id"] not in newest or newest[data["id"]][0] < data["updated_at"]:
            newest[data["id"]] = (data["updated_at"], {p["id"] for p in data["phone_numbers"]})
    return newest
