"""clerk.phone_number_history: its reads and writes, the phone-level twin of user history.

The fold decides which rows exist (worker.mirror.fold, apply_event); this module stores
them, replaces a user's rows from a moment on when a late event re-folds them, keeps what
is derived from them (each row's valid_until, clerk.phone_facts), and writes erasure's
share: a tombstone row for each live phone, and no number left in any row.
Functions take a connection and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final, LiteralString

import psycopg
from psycopg.rows import dict_row

from worker.mirror import bulk, store
from worker.mirror.fold import HistoryRow, PhoneRow
from worker.privacy import pii

# seq keeps the fold's order, so history_id follows it within a batch. valid_until comes
# as write() guessed it; the refresh of the facts (REFRESH_PHONE_FACTS, below) then
# corrects every row whose value differs from the view's.
INSERT: Final[LiteralString] = """
INSERT INTO clerk.phone_number_history
    (phone_number_id, user_id, change, svix_id, effective_at, event_at, valid_until,
     phone_number, phone_number_hash, region_code, reserved_for_second_factor,
     default_second_factor, is_primary, verification_status, verification_strategy,
     verification_attempts, verification_expire_at, linked_to, created_at, updated_at,
     deleted_at, number_type, is_valid_number, is_test_number)
SELECT id, user_id, change, svix_id, effective_at, event_at, valid_until, phone_number,
       phone_number_hash, region_code, reserved_for_second_factor, default_second_factor,
       is_primary, verification_status, verification_strategy, verification_attempts,
       verification_expire_at, linked_to, created_at, updated_at, deleted_at, number_type,
       is_valid_number, is_test_number
FROM staged
ORDER BY seq
ON CONFLICT (phone_number_id, svix_id) DO NOTHING
"""

STAGE = bulk.Stage(
    "history_stage",
    ("seq", "change", "svix_id", "effective_at", "event_at", "valid_until", *bulk.PHONE_COLUMNS),
    ("int4", "text", "text", "timestamptz", "timestamptz", "timestamptz", *bulk.PHONE_TYPES),
    INSERT,
)

# The last history row of each of a user's phones strictly before a moment: the state
# a late event is folded onto. In the fold's order, so svix-ids by code point (COLLATE "C").
SELECT_CHECKPOINT: Final[LiteralString] = """
SELECT DISTINCT ON (phone_number_id)
       phone_number_id, user_id, phone_number, region_code, reserved_for_second_factor,
       default_second_factor, is_primary, verification_status, verification_strategy,
       verification_attempts, verification_expire_at, linked_to, created_at, updated_at,
       deleted_at
FROM clerk.phone_number_history
WHERE user_id = %(user_id)s AND effective_at < %(before)s
ORDER BY phone_number_id, effective_at DESC, event_at DESC, svix_id COLLATE "C" DESC
"""

# History a rebuild may replace: everything of the user from the rebuild's start.
SELECT_FROM: Final[LiteralString] = """
SELECT history_id, phone_number_id, user_id, change, phone_number, region_code,
       reserved_for_second_factor, default_second_factor, is_primary, verification_status,
       verification_strategy, verification_attempts, verification_expire_at, linked_to,
       created_at, updated_at, deleted_at, svix_id, effective_at, event_at
FROM clerk.phone_number_history
WHERE user_id = %(user_id)s AND effective_at >= %(since)s
"""

# A late event made these rows redundant (same state as the row now before them).
DELETE: Final[LiteralString] = """
DELETE FROM clerk.phone_number_history WHERE history_id = ANY(%(history_ids)s)
"""

# What is derived from exactly these phones' history, in one statement: until when each
# row held (sql/views/03_phone_history_valid_until.sql defines it; only the rows whose end
# moved are written, most often the phone's previous newest), and their facts (the view of
# sql/views/01_phone_facts_of_history.sql); a phone whose history is gone loses its facts
# row. The facts read the history as it was before this statement's update of valid_until,
# which none of them reads. Run in the transaction that wrote the history, so what is
# derived always moves with it. Each phone's rows are read by a lateral probe of the
# history's phone index, and the rows to update found by key: filtered by
# `phone_number_id = ANY(..)` instead, a mirror without statistics (a new deployment's
# first minute, every benchmark database) read the whole history three times and the facts
# once per batch, most of a paced load's batch time. A phone's facts are firsts and evers,
# the same after most events: a row whose facts came out as kept is left as it is, not
# written again as a new version of itself.
REFRESH_PHONE_FACTS: Final[LiteralString] = """
WITH moving AS MATERIALIZED (
    SELECT v.history_id, v.valid_until
    FROM unnest(%(phone_ids)s::text[]) AS p(id),
         LATERAL (SELECT * FROM clerk.phone_history_valid_until AS w
                  WHERE w.phone_number_id = p.id OFFSET 0) AS v
    WHERE v.valid_until IS DISTINCT FROM v.kept_valid_until
), moved AS (
    UPDATE clerk.phone_number_history AS h
    SET valid_until = m.valid_until
    FROM moving AS m
    WHERE h.history_id = ANY(ARRAY(SELECT history_id FROM moving))
      AND h.history_id = m.history_id
), fresh AS (
    SELECT f.*
    FROM unnest(%(phone_ids)s::text[]) AS p(id),
         LATERAL (SELECT * FROM clerk.phone_facts_of_history AS x
                  WHERE x.phone_number_id = p.id OFFSET 0) AS f
), gone AS (
    DELETE FROM clerk.phone_facts AS f
    WHERE f.phone_number_id = ANY(ARRAY(SELECT unnest(%(phone_ids)s::text[])
                                        EXCEPT SELECT phone_number_id FROM fresh))
)
INSERT INTO clerk.phone_facts
SELECT * FROM fresh
ON CONFLICT (phone_number_id) DO UPDATE SET
    user_id = EXCLUDED.user_id,
    region_code = EXCLUDED.region_code,
    first_seen_at = EXCLUDED.first_seen_at,
    first_verified_at = EXCLUDED.first_verified_at,
    first_verified_region_code = EXCLUDED.first_verified_region_code,
    ever_failed = EXCLUDED.ever_failed,
    ever_expired = EXCLUDED.ever_expired,
    ever_reserved = EXCLUDED.ever_reserved,
    added_day = EXCLUDED.added_day,
    verified_month = EXCLUDED.verified_month,
    seconds_to_verify = EXCLUDED.seconds_to_verify,
    outcome = EXCLUDED.outcome
-- the whole row, so that a column added to the table is compared too
WHERE phone_facts IS DISTINCT FROM EXCLUDED
"""

# A live user is deleted as a user.deleted would delete it (a 'deleted' history row for
# each live phone), already without what erasure clears.
TOMBSTONE: Final[LiteralString] = """
INSERT INTO clerk.phone_number_history
    (phone_number_id, user_id, change, svix_id, effective_at, event_at, phone_number,
     phone_number_hash, region_code, reserved_for_second_factor, default_second_factor,
     is_primary, verification_status, verification_strategy, verification_attempts,
     verification_expire_at, linked_to, created_at, updated_at, deleted_at)
SELECT id, user_id, 'deleted', 'erase_' || user_id, now(), now(), NULL, NULL, region_code,
       reserved_for_second_factor, default_second_factor, is_primary, verification_status,
       verification_strategy, verification_attempts, verification_expire_at, NULL,
       created_at, updated_at, now()
FROM clerk.phone_numbers
WHERE user_id = %(user_id)s AND deleted_at IS NULL
ON CONFLICT (phone_number_id, svix_id) DO NOTHING
"""

# Erasure: no number, hash or link left in any of the user's rows.
ERASE: Final[LiteralString] = """
UPDATE clerk.phone_number_history
SET phone_number = NULL, phone_number_hash = NULL, linked_to = NULL
WHERE user_id = %(user_id)s
  AND (phone_number IS NOT NULL OR phone_number_hash IS NOT NULL OR linked_to IS NOT NULL)
"""

# Rows after a key (keyset paging) whose hash is missing, or every one: what rehash fills.
UNHASHED: Final[LiteralString] = """
SELECT history_id::text, phone_number FROM clerk.phone_number_history
WHERE history_id > %(after)s::bigint AND phone_number IS NOT NULL
  AND (phone_number_hash IS NULL OR %(every_row)s)
ORDER BY history_id LIMIT %(limit)s
"""

SET_HASHES: Final[LiteralString] = """
UPDATE clerk.phone_number_history AS p SET phone_number_hash = h.hash
FROM unnest(%(keys)s::bigint[], %(hashes)s::text[]) AS h(key, hash)
WHERE p.history_id = h.key AND p.phone_number_hash IS DISTINCT FROM h.hash
"""


def load_checkpoint(
    conn: psycopg.Connection, user_id: str, before: datetime
) -> dict[str, PhoneRow]:
    """Each of a user's phones as history last recorded it strictly before `before`."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(SELECT_CHECKPOINT, {"user_id": user_id, "before": before})
        return {row["phone_number_id"]: store.phone_row(row) for row in cur}


def load_from(conn: psycopg.Connection, user_id: str, since: datetime) -> dict[HistoryRow, int]:
    """A user's history rows from `since` on, mapped to their history_id."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(SELECT_FROM, {"user_id": user_id, "since": since})
        return {_row(row): row["history_id"] for row in cur}


def write(
    conn: psycopg.Connection,
    rows: list[HistoryRow],
    *,
    pii_key: bytes | None,
    out: bulk.Executor | None = None,
) -> None:
    """Insert rows, their numbers hashed under pii_key; the caller refreshes the facts.
    The INSERT goes to out (a bulk.Tail) when given."""
    digest = pii.hasher(pii_key)
    until = _valid_until(rows)
    values = (_values(seq, row, until[seq], digest) for seq, row in enumerate(rows))
    bulk.write(conn, STAGE, values, out)


def _valid_until(rows: list[HistoryRow]) -> list[datetime | None]:
    """Each row's valid_until as the rows alone say it: the next one of its phone's, in
    history order (svix-ids by code point, as COLLATE "C"), else NULL. Right whenever the
    phone has no row after these, as for an in-order batch: then the refresh writes only
    the phone's previous newest row, not every row of the batch a second time."""
    until: list[datetime | None] = [None] * len(rows)
    by_phone: dict[str, list[int]] = {}
    for seq, row in enumerate(rows):
        by_phone.setdefault(row.phone_number_id, []).append(seq)
    for seqs in by_phone.values():
        if len(seqs) > 1:
            seqs.sort(key=lambda i: (rows[i].effective_at, rows[i].event_at, rows[i].svix_id))
            for i, j in itertools.pairwise(seqs):
                until[i] = rows[j].effective_at
    return until


def replace(
    conn: psycopg.Connection,
    old: dict[HistoryRow, int],
    rows: list[HistoryRow],
    *,
    pii_key: bytes | None,
) -> set[str]:
    """Make the rows load_from found exactly `rows`, touching only what differs; returns
    the phones whose rows changed (their facts to refresh)."""
    wanted = set(rows)
    added = [row for row in rows if row not in old]
    stale = [row for row in old if row not in wanted]
    if stale:
        conn.execute(DELETE, {"history_ids": [old[row] for row in stale]})
    write(conn, added, pii_key=pii_key)
    return {row.phone_number_id for row in (*added, *stale)}


def refresh_facts(conn: bulk.Executor, phone_ids: Iterable[str]) -> None:
    """Recompute what is kept of these phones' history (their clerk.phone_facts and each
    row's valid_until), after writing it."""
    ids = sorted(set(phone_ids))
    if ids:
        # clerk.phone_facts: its own table, written only from here.
        conn.execute(REFRESH_PHONE_FACTS, {"phone_ids": ids})


def tombstone(conn: psycopg.Connection, user_id: str) -> int:
    """Erasure: a 'deleted' row for each of the user's live phones; how many."""
    return conn.execute(TOMBSTONE, {"user_id": user_id}).rowcount


def erase(conn: psycopg.Connection, user_id: str) -> int:
    """Erasure: the numbers, hashes and links out of every row of the user's; how many."""
    return conn.execute(ERASE, {"user_id": user_id}).rowcount


def _row(row: dict[str, Any]) -> HistoryRow:
    return HistoryRow(
        row["phone_number_id"],
        row["user_id"],
        row["change"],
        store.phone_values(row),
        row["deleted_at"],
        row["svix_id"],
        row["effective_at"],
        row["event_at"],
    )


def _values(
    seq: int, row: HistoryRow, valid_until: datetime | None, digest: pii.Hasher
) -> tuple[Any, ...]:
    return (
        seq, row.change, row.svix_id, row.effective_at, row.event_at, valid_until,
        row.phone_number_id, row.user_id,
        *store.phone_columns(row.values, row.deleted_at, digest),
    )  # fmt: skip


# The intel of the number (worker.mirror.intel) on rows that lack it: params hold the
# phones, and each number with its type, validity and test flag.
FILL_INTEL: Final[LiteralString] = """
UPDATE clerk.phone_number_history AS h
SET number_type = i.number_type, is_valid_number = i.valid, is_test_number = i.test
FROM unnest(%(numbers)s::text[], %(types)s::text[], %(valid)s::bool[], %(test)s::bool[])
     AS i(phone_number, number_type, valid, test)
WHERE h.phone_number_id = ANY(%(phone_ids)s) AND h.number_type IS NULL
  AND h.phone_number = i.phone_number
"""


def fill_intel(conn: psycopg.Connection, params: dict[str, object]) -> int:
    """Write worker.mirror.intel's columns on these phones' rows that lack them; how many."""
    return conn.execute(FILL_INTEL, params).rowcount
