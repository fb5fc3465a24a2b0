"""Fill phone_number_hash for rows written before CLERK_MIRROR_PII_KEY was set (or rotated).

The worker hashes what it writes; rows it wrote without a key, or under an older key,
are rehashed here in chunks by primary key. Functions take a connection and never
commit: the caller owns each chunk's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, LiteralString

import psycopg

from worker.mirror import phone_history
from worker.privacy import pii

CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Target:
    """A table with a phone_number and its hash, read and written by its key column."""

    select: LiteralString
    update: LiteralString


# Rows after `after` (keyset paging); with every_row, also those hashed already.
PHONES: Final = Target(
    """
    SELECT id, phone_number FROM clerk.phone_numbers
    WHERE id > %(after)s AND phone_number IS NOT NULL
      AND (phone_number_hash IS NULL OR %(every_row)s)
    ORDER BY id LIMIT %(limit)s
    """,
    """
    UPDATE clerk.phone_numbers AS p SET phone_number_hash = h.hash
    FROM unnest(%(keys)s::text[], %(hashes)s::text[]) AS h(key, hash)
    WHERE p.id = h.key AND p.phone_number_hash IS DISTINCT FROM h.hash
    """,
)
HISTORY: Final = Target(phone_history.UNHASHED, phone_history.SET_HASHES)
START = {PHONES: "", HISTORY: "0"}


def rehash_chunk(
    conn: psycopg.Connection, target: Target, key: bytes, after: str, *, every_row: bool
) -> tuple[int, str | None]:
    """Hash one chunk after `after`; (rows changed, where the next chunk starts or None)."""
    params = {"after": after, "every_row": every_row, "limit": CHUNK}
    rows = conn.execute(target.select, params).fetchall()
    if not rows:
        return 0, None
    hashes = [pii.phone_hash(key, number) for _, number in rows]
    keys = [k for k, _ in rows]
    changed = conn.execute(target.update, {"keys": keys, "hashes": hashes}).rowcount
    return changed, keys[-1] if len(rows) == CHUNK else None
