"""What of a verified body the inbox may keep: only what the mirror folds, before it commits.

A user.* body is kept as received (the mirror folds it, and replay re-reads it). An
sms.created body is cut down to the fields the SMS ledger needs: its `message` and
template `data` hold the one-time code and never reach the database. Every other type
(session.*, email.*, organization.*, ...) keeps its inbox row (svix-id, type, times,
status) but no body: the mirror never reads one, and they carry codes, addresses, IPs.
"""

from __future__ import annotations

import json
from typing import Any, Final

from worker.mirror.events import SMS_TYPE, USER_TYPES

# The ledger's fields of an sms.created `data` (worker.sms.ledger reads nothing else).
SMS_FIELDS: Final = (
    "object",
    "id",
    "slug",
    "status",
    "to_phone_number",
    "phone_number_id",
    "user_id",
    "delivered_by_clerk",
    "created_at_ms",
    "created_at",
)
# Of the envelope: what tells the event and its time.
ENVELOPE_FIELDS: Final = ("object", "type", "timestamp")


def kept(event_type: str, payload: bytes | None) -> bytes | None:
    """The bytes the inbox stores for this event: all, the ledger's share, or None."""
    if payload is None or event_type in USER_TYPES:
        return payload
    if event_type != SMS_TYPE:
        return None
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return None
    data = body["data"]
    out: dict[str, Any] = {k: body[k] for k in ENVELOPE_FIELDS if k in body and _scalar(body[k])}
    # Only scalars: an object or array under a kept name could still carry the message.
    out["data"] = {k: data[k] for k in SMS_FIELDS if k in data and _scalar(data[k])}
    return json.dumps(out, separators=(",", ":")).encode()


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
