"""clerk.user_history: its reads and writes, the user-level twin of phone-number history.

The fold decides which rows exist (worker.mirror.fold, UserState.user_rows); this module
stores them, and replaces a user's rows from a moment on when a late event re-folds them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, LiteralString

import psycopg

from worker.mirror import bulk
from worker.mirror.fold import UserHistoryRow, UserTrack

# seq keeps the fold's order, so history_id follows it within a batch.
INSERT: Final[LiteralString] = """
INSERT INTO clerk.user_history
    (user_id, change, primary_phone_number_id, two_factor_enabled, totp_enabled,
     backup_code_enabled, deleted_at, svix_id, effective_at, event_at)
SELECT user_id, change, primary_phone_number_id, two_factor_enabled, totp_enabled,
       backup_code_enabled, deleted_at, svix_id, effective_at, event_at
FROM staged
ORDER BY seq
ON CONFLICT (user_id, svix_id) DO NOTHING
"""

STAGE = bulk.Stage(
    "user_history_stage",
    ("seq", "user_id", "change", "primary_phone_number_id", "two_factor_enabled",
     "totp_enabled", "backup_code_enabled", "deleted_at", "svix_id", "effective_at",
     "event_at"),
    ("int4", "text", "text", "text", "bool", "bool", "bool", "timestamptz", "text",
     "timestamptz", "timestamptz"),
    INSERT,
)  # fmt: skip

# What user history recorded last strictly before a moment: a re-fold starts from it.
SELECT_CHECKPOINT: Final[LiteralString] = """
SELECT primary_phone_number_id, two_factor_enabled, totp_enabled, backup_code_enabled, change
FROM clerk.user_history
WHERE user_id = %(user_id)s AND effective_at < %(before)s
ORDER BY effective_at DESC, event_at DESC, svix_id COLLATE "C" DESC
LIMIT 1
"""

SELECT_FROM: Final[LiteralString] = """
SELECT history_id, user_id, change, primary_phone_number_id, two_factor_enabled,
       totp_enabled, backup_code_enabled, deleted_at, svix_id, effective_at, event_at
FROM clerk.user_history
WHERE user_id = %(user_id)s AND effective_at >= %(since)s
"""

DELETE: Final[LiteralString] = """
DELETE FROM clerk.user_history WHERE history_id = ANY(%(history_ids)s)
"""


def load_checkpoint(conn: psycopg.Connection, user_id: str, before: datetime) -> UserTrack | None:
    """The followed fields as user history last recorded them before `before` (None: none)."""
    row = conn.execute(SELECT_CHECKPOINT, {"user_id": user_id, "before": before}).fetchone()
    # After a deletion nothing more is recorded: the fold starts as for an unseen user.
    return None if row is None or row[4] == "deleted" else UserTrack(*row[:4])


def write(
    conn: psycopg.Connection, rows: list[UserHistoryRow], out: bulk.Executor | None = None
) -> None:
    """Insert rows; the INSERT goes to out (a bulk.Tail) when given."""
    bulk.write(conn, STAGE, (_values(seq, row) for seq, row in enumerate(rows)), out)


def load_from(conn: psycopg.Connection, user_id: str, since: datetime) -> dict[UserHistoryRow, int]:
    """The user's rows from `since` on, mapped to their history_id."""
    found = conn.execute(SELECT_FROM, {"user_id": user_id, "since": since})
    return {_row(row): row[0] for row in found}


def replace(
    conn: psycopg.Connection, old: dict[UserHistoryRow, int], rows: list[UserHistoryRow]
) -> None:
    """Make the rows load_from found exactly `rows`, touching only what differs."""
    wanted = set(rows)
    stale = [history_id for row, history_id in old.items() if row not in wanted]
    if stale:
        conn.execute(DELETE, {"history_ids": stale})
    write(conn, [row for row in rows if row not in old])


def _row(found: tuple[Any, ...]) -> UserHistoryRow:
    _history_id, user_id, change, *values, deleted_at, svix_id, effective_at, event_at = found
    return UserHistoryRow(
        user_id, change, UserTrack(*values), deleted_at, svix_id, effective_at, event_at
    )


def _values(seq: int, row: UserHistoryRow) -> tuple[Any, ...]:
    return (
        seq, row.user_id, row.change, *row.values, row.deleted_at, row.svix_id,
        row.effective_at, row.event_at,
    )  # fmt: skip
