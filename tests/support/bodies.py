"""The Clerk bodies of tests/fixtures/clerk (see its README), and the story they tell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent.parent / "fixtures"

STORY = (
    "user.created__unverified_phone",
    "user.updated__phone_verified",
    "user.updated__2fa_enabled",
    "user.updated__second_phone_expired",
    "user.updated__phone_removed",
    "user.deleted",
)


def fixture_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "clerk" / f"{name}.json").read_text())
    return body
