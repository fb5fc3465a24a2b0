"""What the console may show of personal data: masked numbers, and payloads by allowlist.

A payload holds names, emails, IP addresses and free-form metadata besides the phone
numbers. Rather than list what to hide (Clerk adds fields), a string is shown only
under a key known to hold an id, a type, a status or a time; a phone number is masked;
everything else reads [hidden].
"""

from __future__ import annotations

import json
from typing import Any

from worker import logs, mask

HIDDEN = "[hidden]"
SAFE_KEYS = frozenset({"id", "object", "type", "status", "strategy", "provider", "deleted"})
SAFE_SUFFIXES = ("_id", "_at", "_status", "_strategy", "_type", "_enabled")
PHONE_KEYS = frozenset({"phone_number"})
# Ids of the customer's own choosing, which can be an email or a number: never shown.
PERSONAL_KEYS = frozenset({"external_id"})
TIME_KEYS_SUFFIXES = ("_at", "timestamp")


def phone(number: str | None) -> str:
    """A phone number as the console shows it: masked as in SQL's phone_number_masked."""
    if not number:
        return ""
    # A value without a digit to show is still never shown as it is.
    return mask.phone_number(number) or HIDDEN


def text(value: str | None) -> str:
    """Free text (last_error, a backfill's error): numbers and secrets masked."""
    return logs.mask(value) if value else ""


def payload(raw: bytes | None) -> str:
    """The stored body as indented JSON, with every personal field masked or hidden."""
    if raw is None:
        return "(payload purged: the retention period is over)"
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return f"(payload is not JSON: {len(raw)} bytes, not shown)"
    return json.dumps(_mask(document, ""), indent=2, ensure_ascii=False)


def _safe_key(key: str) -> bool:
    return key not in PERSONAL_KEYS and (key in SAFE_KEYS or key.endswith(SAFE_SUFFIXES))


def _mask(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if key.endswith("metadata"):
            return HIDDEN
        return {str(k): _mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if isinstance(value, str):
        if key in PHONE_KEYS:
            return phone(value)
        return logs.mask(value) if _safe_key(key) else HIDDEN
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**8:
        # Times in ms are fine; any other long run of digits could be a number.
        return value if key.endswith(TIME_KEYS_SUFFIXES) else logs.mask(str(value))
    return value
