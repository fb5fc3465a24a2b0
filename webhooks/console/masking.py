"""What the console may show of what a body chose: masked numbers, and payloads by allowlist.

A payload holds names, emails, IP addresses and free-form metadata besides the phone
numbers, and whoever signs it chooses every string. Rather than list what to hide (Clerk
adds fields), a string is shown only under a key known to hold an id, a type, a status or
a time, and only if it looks like one; a phone number is masked; everything else reads
[hidden]. The same rules cover what the pages show outside the viewer (the events list,
an event's facts, report cells and chart labels), at render time.
"""

from __future__ import annotations

import json
import re
from typing import Any

import phonenumbers

from worker import logs, mask

HIDDEN = "[hidden]"
SAFE_KEYS = frozenset({"id", "object", "type", "status", "strategy", "provider", "deleted"})
SAFE_SUFFIXES = ("_id", "_at", "_status", "_strategy", "_type", "_enabled")
PHONE_KEYS = frozenset({"phone_number"})
# A number without its last four digits (the SMS ledger's unit of fraud): shown as it is,
# so that an operator can name the range to block; anything else under the key is hidden.
PREFIX_KEYS = frozenset({"number_prefix"})
_PREFIX = re.compile(r"\+[0-9]{1,12}")
# Ids of someone else's choosing: the customer's (external_id) or an identity provider's
# (provider_user_id of OAuth, SAML and enterprise accounts, often an email): never shown.
PERSONAL_KEYS = frozenset({"external_id", "provider_user_id"})
TIME_KEYS_SUFFIXES = ("_at", "timestamp")
# Deeper than any Clerk payload; a deeper part reads as hidden, and nothing recurses far.
MAX_DEPTH = 24
# What an id, an enum or a time looks like (user_2pAda..., phone_code, user.created).
_TOKEN = re.compile(r"[A-Za-z0-9_.:+-]{1,255}")
# A key shown as it is: a name, with few digits (a number is no key of Clerk's).
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Digits in groups (202 555 0192, (202) 555-0192, 202.555.0192), or one long run.
_NATIONAL = re.compile(r"(?<![0-9A-Za-z_])\(?\d[\d ().-]*\d(?![0-9A-Za-z_])")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MIN_NUMBER_DIGITS = 7  # a local number without its area code
# Times a body carries, in ms: shown when they fall in 2000-2100 and read as no number.
PLAUSIBLE_MS = range(946_684_800_000, 4_102_444_800_000)


def phone(number: str | None) -> str:
    """A phone number as the console shows it: masked as in SQL's phone_number_masked."""
    if not number:
        return ""
    # A value without a digit to show is still never shown as it is.
    return mask.phone_number(number) or HIDDEN


def text(value: str | None) -> str:
    """Free text (last_error, a report's detail): numbers in any format and secrets masked."""
    if not value:
        return ""
    readable = value.encode("utf-8", "replace").decode()  # an unpaired surrogate: "?"
    return _NATIONAL.sub(_national, logs.mask(readable))


def token(value: str | None) -> str:
    """A string Clerk fills with an id or an enum (a type, a status, a user id, a svix-id):
    shown, numbers masked, when it looks like one; hidden when it does not."""
    if value is None:
        return ""
    return text(value) if _TOKEN.fullmatch(value) else HIDDEN


def cell(column: str, value: Any) -> Any:
    """A report cell: a phone column masked, an id or enum column as token(), other text
    as text(), jsonb (linked_to) by the viewer's rules."""
    if column in PHONE_KEYS:
        return phone(value)
    if column in PREFIX_KEYS and isinstance(value, str):
        return value if _PREFIX.fullmatch(value) else HIDDEN
    if isinstance(value, str):
        return token(value) if _safe_key(column) else text(value)
    if isinstance(value, list | dict):
        return _mask(value, column, 0)
    return value


def payload(raw: bytes | None) -> str:
    """The stored body as indented JSON, with every personal field masked or hidden."""
    if raw is None:
        return (
            "(no payload: purged after the retention period, erased, or never kept: the"
            " mirror keeps no body of a type it does not apply)"
        )
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return f"(payload is not JSON: {len(raw)} bytes, not shown)"
    return json.dumps(_mask(document, "", 0), indent=2, ensure_ascii=False)


def _safe_key(key: str) -> bool:
    return key not in PERSONAL_KEYS and (key in SAFE_KEYS or key.endswith(SAFE_SUFFIXES))


def _mask(value: Any, key: str, depth: int) -> Any:
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        return f"[hidden: nested deeper than {MAX_DEPTH}]"
    if isinstance(value, dict):
        if key.endswith("metadata"):
            return HIDDEN
        keys = _keys(value)
        return {keys[k]: _mask(v, keys[k], depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key, depth + 1) for v in value]
    if isinstance(value, str):
        return phone(value) if key in PHONE_KEYS else token(value) if _safe_key(key) else HIDDEN
    if isinstance(value, float):
        return HIDDEN  # Clerk sends no fractions: 2025550192.0 is a number, not a measure
    if isinstance(value, int) and not isinstance(value, bool):
        return _integer(value, key)
    return value


def _keys(obj: dict[str, Any]) -> dict[str, str]:
    """Each key as shown: a plain name as it is, anything else (a number, an email) hidden."""
    shown = {}
    for index, key in enumerate(obj):
        plain = _KEY.fullmatch(key) and sum(c.isdigit() for c in key) <= 4
        shown[key] = key if plain else f"[hidden key {index}]"
    return shown


def _integer(value: int, key: str) -> int | str:
    # Counts and small values are fine; a long run of digits could be a number, unless it
    # is a time under a time's key.
    if abs(value) < 10 ** (MIN_NUMBER_DIGITS - 1):
        return value
    if key.endswith(TIME_KEYS_SUFFIXES) and value in PLAUSIBLE_MS and not _is_number(value):
        return value
    return mask.phone_number(str(value))


def _is_number(value: int) -> bool:
    """A valid phone number when read as +<digits> (no time of 2000-2033 is one)."""
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(f"+{value}", None)))
    except phonenumbers.NumberParseException:
        return False


def _national(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(c.isdigit() for c in found)
    if digits < MIN_NUMBER_DIGITS or _ISO_DATE.search(found):
        return found
    return mask.phone_number(found)
