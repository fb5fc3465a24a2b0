"""The keyed hash of a phone number: HMAC-SHA256 under CLERK_MIRROR_PII_KEY, hex.

The key comes from the settings (worker.config), handed down by each process that writes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

Hasher = Callable[[str | None], str | None]


def phone_hash(key: bytes, number: str) -> str:
    """The same number always gives the same hash under one key; no key, no way back."""
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


def hasher(key: bytes | None) -> Hasher:
    """A function number -> hash under the key (None without a key or a number)."""

    def digest(number: str | None) -> str | None:
        return phone_hash(key, number) if key is not None and number is not None else None

    return digest
