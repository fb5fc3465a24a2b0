"""Synthetic Clerk user events (~3 KB each, like real user.updated bodies) and their signatures."""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from svix.webhooks import Webhook

BENCH_SECRET = "whsec_" + "YmVuY2gtc2VjcmV0LWZvci1jbGVyay1taXJyb3I="
BASE_MS = 1_735_689_600_000
STATUSES = ("unverified", "verified", "expired", "verified")


def user_id(run: str, index: int) -> str:
    return f"user_{run}_{index:08d}"


def _phone(uid: str, slot: int, step: int) -> dict[str, Any]:
    status = STATUSES[(step + slot) % len(STATUSES)]
    return {
        "id": f"idn_{uid[5:]}_p{slot}",
        "object": "phone_number",
        "phone_number": f"+1202555{(zlib.crc32(uid.encode()) + slot) % 10000:04d}"
        if slot
        else "+447700900123",
        "reserved_for_second_factor": step % 3 == 0,
        "default_second_factor": slot == 0,
        "reserved": False,
        "verification": {
            "object": "verification_otp",
            "status": status,
            "strategy": "phone_code",
            "attempts": step % 4,
            "expire_at": BASE_MS + 600_000 + step,
        },
        "linked_to": [],
        "backup_codes": None,
        "created_at": BASE_MS,
        "updated_at": BASE_MS + step * 1000,
    }


def user_event(uid: str, step: int, *, event_type: str = "user.updated") -> dict[str, Any]:
    """The step-th version of a user: phones come and go, verification moves on."""
    updated = BASE_MS + step * 1000
    if event_type == "user.deleted":
        data: dict[str, Any] = {"deleted": True, "id": uid, "object": "user"}
        return {"data": data, "object": "event", "timestamp": updated + 5, "type": event_type}
    phones = [_phone(uid, 0, step)] + ([_phone(uid, 1, step)] if step % 4 in (1, 2) else [])
    data = {
        "object": "user",
        "id": uid,
        "first_name": "Bench",
        "last_name": f"User {uid[-6:]}",
        "image_url": "https://img.clerk.com/" + "x" * 120,
        "primary_email_address_id": f"idn_{uid[5:]}_e0",
        "primary_phone_number_id": phones[-1]["id"],
        "email_addresses": [
            {
                "id": f"idn_{uid[5:]}_e0",
                "object": "email_address",
                "email_address": f"{uid}@example.org",
                "verification": {"status": "verified", "strategy": "email_code"},
                "linked_to": [],
                "created_at": BASE_MS,
                "updated_at": BASE_MS,
            }
        ],
        "phone_numbers": phones,
        "two_factor_enabled": step % 2 == 1,
        "totp_enabled": False,
        "backup_code_enabled": step % 5 == 0,
        # Real bodies carry metadata and a dozen more fields: pad to a realistic size.
        "public_metadata": {"plan": "team", "notes": "n" * 1200},
        "private_metadata": {"crm_id": uid, "tags": ["a", "b", "c"] * 30},
        "created_at": BASE_MS,
        "updated_at": updated,
        "last_active_at": updated,
    }
    return {"data": data, "object": "event", "timestamp": updated + 5, "type": event_type}


def user_history(run: str, users: int, per_user: int, seed: int = 7) -> list[tuple[str, bytes]]:
    """(svix_id, body) for `per_user` versions of each user, shuffled; some users end deleted."""
    rng = random.Random(seed)
    out = []
    for index in range(users):
        uid = user_id(run, index)
        for step in range(per_user):
            deleted = step == per_user - 1 and index % 20 == 0
            body = user_event(uid, step, event_type="user.deleted" if deleted else "user.updated")
            out.append((f"msg_{run}_{index}_{step}", json.dumps(body).encode()))
    rng.shuffle(out)
    return out


def with_duplicates(
    events: list[tuple[str, bytes]], share: float, seed: int = 11
) -> list[tuple[str, bytes]]:
    """Svix redeliveries: the same svix-id and body again, at random places."""
    rng = random.Random(seed)
    extra = rng.sample(events, int(len(events) * share))
    out = events + extra
    rng.shuffle(out)
    return out


_SIGNER = Webhook(BENCH_SECRET)


def sign(svix_id: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(tz=UTC)
    return {
        "svix-id": svix_id,
        "svix-timestamp": str(int(at.timestamp())),
        "svix-signature": _SIGNER.sign(svix_id, at, body.decode()),
        "content-type": "application/json",
    }


def signed_requests(run: str, count: int, first: int = 0) -> Iterator[tuple[dict[str, str], bytes]]:
    """Count signed user.updated requests, each a new svix-id, signed now: the run's
    requests from the first-th on (a second call with `first` after the first call's last
    continues its users in order)."""
    verifier_at = datetime.now(tz=UTC)
    for i in range(first, first + count):
        svix_id = f"msg_{run}_ingest_{i}"
        body = json.dumps(user_event(user_id(run, i % 5000), 1 + i // 5000)).encode()
        yield sign(svix_id, body, verifier_at), body
