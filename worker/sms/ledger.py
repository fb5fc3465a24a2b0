"""sms.created events to clerk.sms_messages rows: parse the ledger's fields, write them once.

The inbox keeps only these fields of the body (worker.inbox.redact); the message and
its template data (the one-time code) never got this far. One row per message id, never
for an erased user: a redelivered svix-id changes nothing, and when Clerk tells the same
message twice, the earliest event (created_at, then svix-id by code point) is the row,
whatever order they came in; an erased row is never written again.
Functions that take a connection never commit: the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, LiteralString

import psycopg

from worker.mirror import intel
from worker.mirror.events import (
    MAX_ENUM,
    MAX_ID,
    MAX_PHONE_NUMBER,
    SMS_TYPE,
    InvalidEvent,
    _id,
    _ms,
    _opt,
    _typed,
    load_body,
    ms_to_datetime,
    region_code,
)
from worker.privacy import pii
from worker.records import record


@record
class Sms:
    """One sent (or to-be-sent) SMS, as the ledger keeps it."""

    svix_id: str
    id: str
    user_id: str | None
    phone_number_id: str | None
    slug: str | None
    status: str | None
    delivered_by_clerk: bool | None
    created_at: datetime
    phone_number: str


def parse(svix_id: str, body: dict[str, Any]) -> Sms:
    """The ledger's fields of an sms.created body; InvalidEvent when it cannot be kept."""
    if body.get("type") != SMS_TYPE:
        raise InvalidEvent(f"event is not {SMS_TYPE}")
    data = _typed(body.get("data"), "data", dict, "event")
    number = _opt(data, "to_phone_number", str, "data", MAX_PHONE_NUMBER)
    if not number:
        raise InvalidEvent("data.to_phone_number is missing")
    # created_at_ms, or created_at as Clerk's own example names it, else the event's time.
    at = next((k for k in ("created_at_ms", "created_at") if data.get(k) is not None), None)
    ms = _ms(data, at, "data") if at else _ms(body, "timestamp", "event")
    return Sms(
        svix_id=svix_id,
        id=_id(data, "data"),
        user_id=_opt(data, "user_id", str, "data", MAX_ID),
        phone_number_id=_opt(data, "phone_number_id", str, "data", MAX_ID),
        slug=_opt(data, "slug", str, "data", MAX_ENUM),
        status=_opt(data, "status", str, "data", MAX_ENUM),
        delivered_by_clerk=_opt(data, "delivered_by_clerk", bool, "data"),
        created_at=ms_to_datetime(ms),
        phone_number=number,
    )


def parse_payload(svix_id: str, payload: bytes) -> Sms:
    return parse(svix_id, load_body(payload))


# None of an erased user; an earlier event of the same message replaces a later one, but
# never an erased row. RETURNING tells which rows are new (for the metrics).
INSERT: Final[LiteralString] = """
INSERT INTO clerk.sms_messages
    (id, user_id, phone_number_id, slug, status, delivered_by_clerk, created_at,
     phone_number, phone_number_hash, region_code, number_prefix, number_type,
     is_valid_number, is_test_number, svix_id)
SELECT s.*
FROM unnest(%(ids)s::text[], %(user_ids)s::text[], %(phone_ids)s::text[], %(slugs)s::text[],
            %(statuses)s::text[], %(by_clerk)s::bool[], %(created)s::timestamptz[],
            %(numbers)s::text[], %(hashes)s::text[], %(regions)s::text[],
            %(prefixes)s::text[], %(types)s::text[], %(valid)s::bool[], %(test)s::bool[],
            %(svix_ids)s::text[])
     AS s(id, user_id, phone_number_id, slug, status, delivered_by_clerk, created_at,
          phone_number, phone_number_hash, region_code, number_prefix, number_type,
          is_valid_number, is_test_number, svix_id)
WHERE NOT EXISTS (SELECT FROM clerk.erased_users AS e WHERE e.user_id = s.user_id)
ON CONFLICT (id) DO UPDATE SET
    user_id = EXCLUDED.user_id,
    phone_number_id = EXCLUDED.phone_number_id,
    slug = EXCLUDED.slug,
    status = EXCLUDED.status,
    delivered_by_clerk = EXCLUDED.delivered_by_clerk,
    created_at = EXCLUDED.created_at,
    phone_number = EXCLUDED.phone_number,
    phone_number_hash = EXCLUDED.phone_number_hash,
    region_code = EXCLUDED.region_code,
    number_prefix = EXCLUDED.number_prefix,
    number_type = EXCLUDED.number_type,
    is_valid_number = EXCLUDED.is_valid_number,
    is_test_number = EXCLUDED.is_test_number,
    svix_id = EXCLUDED.svix_id,
    recorded_at = now()
WHERE sms_messages.phone_number IS NOT NULL
  AND (EXCLUDED.created_at, EXCLUDED.svix_id COLLATE "C")
      < (sms_messages.created_at, sms_messages.svix_id COLLATE "C")
RETURNING region_code, xmax = 0
"""


def write(conn: psycopg.Connection, messages: list[Sms], *, pii_key: bytes | None) -> list[str]:
    """Write the messages; the region of each new row ('' for none)."""
    # One per message id, the earliest: an upsert may touch a row once per statement.
    first: dict[str, Sms] = {}
    for m in sorted(messages, key=lambda m: (m.created_at, m.svix_id), reverse=True):
        first[m.id] = m
    messages = list(first.values())
    if not messages:
        return []
    digest = pii.hasher(pii_key)
    kinds = [intel.classify(m.phone_number) for m in messages]
    params = {
        "ids": [m.id for m in messages],
        "user_ids": [m.user_id for m in messages],
        "phone_ids": [m.phone_number_id for m in messages],
        "slugs": [m.slug for m in messages],
        "statuses": [m.status for m in messages],
        "by_clerk": [m.delivered_by_clerk for m in messages],
        "created": [m.created_at for m in messages],
        "numbers": [m.phone_number for m in messages],
        "hashes": [digest(m.phone_number) for m in messages],
        "regions": [region_code(m.phone_number) for m in messages],
        "prefixes": [intel.number_prefix(m.phone_number) for m in messages],
        "types": [k.number_type for k in kinds],
        "valid": [k.is_valid_number for k in kinds],
        "test": [k.is_test_number for k in kinds],
        "svix_ids": [m.svix_id for m in messages],
    }
    return [region or "" for region, new in conn.execute(INSERT, params) if new]
