"""The keyed hash of a phone number: HMAC-SHA256 under CLERK_MIRROR_PII_KEY, hex."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping

KEY_VARIABLE = "CLERK_MIRROR_PII_KEY"

Hasher = Callable[[str | None], str | None]


def phone_hash(key: bytes, number: str) -> str:
    """The same number always gives the same hash under one key; no key, no way back."""
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


def key_from_env(environ: Mapping[str, str] | None = None) -> bytes | None:
    """CLERK_MIRROR_PII_KEY as bytes, None when unset or blank."""
    raw = (os.environ if environ is None else environ).get(KEY_VARIABLE, "").strip()
    return raw.encode() if raw else None


def hasher(environ: Mapping[str, str] | None = None) -> Hasher:
    """A function number -> hash under the current key (None without a key or a number)."""
    key = key_from_env(environ)

    def digest(number: str | None) -> str | None:
        return phone_hash(key, number) if key is not None and number is not None else None

    return digest
