"""Made-up Clerk User objects for the fake Backend API, tests and benchmarks."""

from __future__ import annotations

import random
from typing import Any

BASE_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
# (prefix, digits to add, region the mirror should derive): fiction ranges where they exist.
NUMBER_PLANS = (
    ("+1202555", 4, "US"),
    ("+447700900", 3, "GB"),
    ("+3361234", 4, "FR"),
    ("+4915123", 5, "DE"),
    ("+8190123", 5, "JP"),
)
VERIFICATION_STATES = ("unverified", "verified", "expired", "failed", None, "admin")


def generate_users(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """n Clerk User objects, the same for the same seed: phones in every verification
    state (unverified, verified, expired, failed, null verification, admin), some users
    with 2FA on a phone, some with no phone at all."""
    rng = random.Random(seed)  # noqa: S311  # made-up test data, not a secret
    return [_user(rng, seed, index) for index in range(n)]


def _user(rng: random.Random, seed: int, index: int) -> dict[str, Any]:
    user_id = f"user_{seed:x}g{index:08d}"
    created = BASE_MS + index * 60_000
    phones = [_phone(rng, seed, index, k, created) for k in range(rng.choice((0, 1, 1, 1, 2, 3)))]
    two_factor = bool(phones) and rng.random() < 0.3
    if two_factor:
        phones[0].update(reserved_for_second_factor=True, default_second_factor=True)
    updated = max([created, *(p["updated_at"] for p in phones)])
    return {
        "object": "user",
        "id": user_id,
        "external_id": None,
        "username": None,
        "first_name": f"User{index}",
        "last_name": "Example",
        "email_addresses": [],
        "primary_phone_number_id": phones[0]["id"] if phones else None,
        "phone_numbers": phones,
        "web3_wallets": [],
        "external_accounts": [],
        "password_enabled": True,
        "two_factor_enabled": two_factor,
        "totp_enabled": False,
        "backup_code_enabled": two_factor,
        "public_metadata": {},
        "private_metadata": {},
        "banned": False,
        "locked": False,
        "created_at": created,
        "updated_at": updated,
    }


def _phone(rng: random.Random, seed: int, index: int, k: int, created: int) -> dict[str, Any]:
    prefix, digits, _region = NUMBER_PLANS[(index + k) % len(NUMBER_PLANS)]
    state = VERIFICATION_STATES[(index * 5 + k * 2) % len(VERIFICATION_STATES)]
    updated = created + rng.randrange(0, 3_600_000)
    return {
        "id": f"idn_{seed:x}p{index:08d}{k}",
        "object": "phone_number",
        "phone_number": prefix + str(rng.randrange(10**digits)).zfill(digits),
        "reserved_for_second_factor": False,
        "default_second_factor": False,
        "reserved": False,
        "verification": _verification(state, updated),
        "linked_to": [{"type": "oauth_google", "id": f"idn_{seed:x}l{index:08d}"}]
        if k == 2
        else [],
        "backup_codes": None,
        "created_at": created,
        "updated_at": updated,
    }


def _verification(state: str | None, at: int) -> dict[str, Any] | None:
    if state is None:
        return None
    if state == "admin":
        return {
            "object": "verification_admin",
            "status": "verified",
            "strategy": "admin",
            "attempts": None,
            "expire_at": None,
        }
    attempts = {"unverified": 0, "verified": 1, "expired": 0, "failed": 3}[state]
    return {
        "object": "verification_otp",
        "status": state,
        "strategy": "phone_code",
        "attempts": attempts,
        "expire_at": at + 600_000,
    }
