"""SQL of erasure, as named constants with %(name)s parameters."""

from __future__ import annotations

from typing import Final, LiteralString

# The numbers a user ever held, from the mirror and its history: what else may mention them.
USER_NUMBERS: Final[LiteralString] = """
SELECT phone_number FROM clerk.phone_numbers
WHERE user_id = %(user_id)s AND phone_number IS NOT NULL
UNION
SELECT phone_number FROM clerk.phone_number_history
WHERE user_id = %(user_id)s AND phone_number IS NOT NULL
UNION
SELECT phone_number FROM clerk.sms_messages
WHERE user_id = %(user_id)s AND phone_number IS NOT NULL
"""

# Who held a number, in the mirror or in an event not applied yet.
NUMBER_HOLDERS: Final[LiteralString] = """
SELECT user_id FROM clerk.phone_numbers WHERE phone_number = %(number)s
UNION
SELECT user_id FROM clerk.phone_number_history WHERE phone_number = %(number)s
UNION
SELECT user_id FROM clerk.sms_messages
WHERE phone_number = %(number)s AND user_id IS NOT NULL
UNION
SELECT user_id FROM clerk.webhook_events
WHERE user_id IS NOT NULL AND payload IS NOT NULL
  AND position(convert_to(%(number)s, 'UTF8') IN payload) > 0
ORDER BY 1
"""


# The phones the tombstone may have given a history row: their facts are recomputed.
USER_PHONE_IDS: Final[LiteralString] = """
SELECT coalesce(array_agg(id), '{}') FROM clerk.phone_numbers WHERE user_id = %(user_id)s
"""

ERASE_PHONES: Final[LiteralString] = """
UPDATE clerk.phone_numbers
SET phone_number = NULL, phone_number_hash = NULL, linked_to = NULL,
    deleted_at = coalesce(deleted_at, now())
WHERE user_id = %(user_id)s
  AND (phone_number IS NOT NULL OR phone_number_hash IS NOT NULL OR linked_to IS NOT NULL
       OR deleted_at IS NULL)
"""


DELETE_USER: Final[LiteralString] = """
UPDATE clerk.users SET deleted_at = now() WHERE id = %(user_id)s AND deleted_at IS NULL
"""

TOMBSTONE: Final[LiteralString] = """
INSERT INTO clerk.erased_users (user_id, reason) VALUES (%(user_id)s, %(reason)s)
ON CONFLICT (user_id) DO NOTHING
"""

# Users deleted before the cutoff and not erased yet, oldest deletion first.
DELETED_BEFORE: Final[LiteralString] = """
SELECT u.id
FROM clerk.users AS u
WHERE u.deleted_at IS NOT NULL AND u.deleted_at <= now() - make_interval(days => %(days)s)
  AND NOT EXISTS (SELECT FROM clerk.erased_users AS e WHERE e.user_id = u.id)
ORDER BY u.deleted_at, u.id
LIMIT %(limit)s
"""

# The SMS ledger's rows of a user, or sent to one of the numbers: no number, hash or
# prefix left (region, type, status and times stay, so the reports keep counting them).
ERASE_SMS: Final[LiteralString] = """
UPDATE clerk.sms_messages
SET phone_number = NULL, phone_number_hash = NULL, number_prefix = NULL
WHERE (user_id = %(user_id)s OR phone_number = ANY(%(numbers)s::text[]))
  AND (phone_number IS NOT NULL OR phone_number_hash IS NOT NULL OR number_prefix IS NOT NULL)
"""
