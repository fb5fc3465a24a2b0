"""What a phone number is, offline, from `phonenumbers`: its type, validity, Clerk test range.

Derived from the number alone, so the same number gives the same answer everywhere:
phone_numbers, phone_number_history and sms_messages carry it. The worker classifies a
number before it writes the row (worker.mirror.store.phone_columns); fill() writes it for
rows that lack it, mirrored before the columns existed (`clerk-mirror classify`).
Functions that take a connection never commit: the caller owns the transaction.
"""

from __future__ import annotations

from typing import Final, LiteralString, NamedTuple

import psycopg

from worker.mirror import numbers, phone_history

# Digits of a number that a prefix leaves out: the unit fraud systems throttle.
PREFIX_HIDES = 4


class Intel(NamedTuple):
    number_type: str
    is_valid_number: bool
    is_test_number: bool


def classify(number: str) -> Intel:
    """The number's type ('unknown' when it is invalid), validity and test-range flag."""
    facts = numbers.facts(number)
    return Intel(facts.number_type, facts.is_valid_number, facts.is_test_number)


def number_prefix(number: str) -> str | None:
    """The number without its last four digits ('+44770091' of '+447700912345')."""
    return number[:-PREFIX_HIDES] if len(number) > PREFIX_HIDES + 2 else None


# The distinct numbers of rows that lack their intel, among the phones named (or all).
SELECT_UNFILLED: Final[LiteralString] = """
SELECT phone_number FROM clerk.phone_numbers
WHERE id = ANY(%(phone_ids)s) AND number_type IS NULL AND phone_number IS NOT NULL
UNION
SELECT phone_number FROM clerk.phone_number_history
WHERE phone_number_id = ANY(%(phone_ids)s) AND number_type IS NULL AND phone_number IS NOT NULL
"""

FILL_PHONES: Final[LiteralString] = """
UPDATE clerk.phone_numbers AS p
SET number_type = i.number_type, is_valid_number = i.valid, is_test_number = i.test
FROM unnest(%(numbers)s::text[], %(types)s::text[], %(valid)s::bool[], %(test)s::bool[])
     AS i(phone_number, number_type, valid, test)
WHERE p.id = ANY(%(phone_ids)s) AND p.number_type IS NULL AND p.phone_number = i.phone_number
"""


def fill(conn: psycopg.Connection, phone_ids: list[str]) -> int:
    """Write the intel of these phones' rows (current and history) that lack it; how many."""
    if not phone_ids:
        return 0
    params: dict[str, object] = {"phone_ids": phone_ids}
    numbers = [row[0] for row in conn.execute(SELECT_UNFILLED, params)]
    if not numbers:
        return 0
    intel = [classify(n) for n in numbers]
    params |= {
        "numbers": numbers,
        "types": [i.number_type for i in intel],
        "valid": [i.is_valid_number for i in intel],
        "test": [i.is_test_number for i in intel],
    }
    changed = conn.execute(FILL_PHONES, params).rowcount
    return changed + phone_history.fill_intel(conn, params)


# Phones with rows still to classify (old rows, from before migration 0020), a chunk at a
# time in id order: the partial indexes of 0020 serve both.
NEXT_UNFILLED: Final[LiteralString] = """
(SELECT id FROM clerk.phone_numbers
 WHERE number_type IS NULL AND phone_number IS NOT NULL AND id > %(after)s
 ORDER BY id LIMIT %(limit)s)
UNION
(SELECT DISTINCT phone_number_id FROM clerk.phone_number_history
 WHERE number_type IS NULL AND phone_number IS NOT NULL AND phone_number_id > %(after)s
 ORDER BY phone_number_id LIMIT %(limit)s)
ORDER BY 1 LIMIT %(limit)s
"""


def fill_chunk(conn: psycopg.Connection, after: str, limit: int) -> tuple[int, str | None]:
    """Classify the rows of the next `limit` phones after `after`; (rows, last id or None)."""
    params = {"after": after, "limit": limit}
    ids = [row[0] for row in conn.execute(NEXT_UNFILLED, params)]
    if not ids:
        return 0, None
    return fill(conn, ids), ids[-1]
