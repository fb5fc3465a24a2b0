"""The masked form of a phone number: the rule of SQL's clerk.mask_phone_number, in Python.

'+44 ••••••••23': the ITU calling code (1 to 3 digits, told apart by its first digits),
a bullet for each other digit but the last two, those two. A value without '+' keeps only
its last two digits; one too short to hide anything is all bullets. The SQL function
(migration 0007) stays the definition, since generated columns depend on it; this copy
lets the logs and the console show what analysts see (tests/worker/test_mask.py holds
the two to each other).
"""

from __future__ import annotations

import re

BULLET = "•"
_NOT_DIGIT = re.compile(r"[^0-9]")
_ONE_DIGIT_CODES = frozenset("17")
_TWO_DIGIT_CODES = frozenset((
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43",
    "44", "45", "46", "47", "48", "49", "51", "52", "53", "54", "55", "56",
    "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84",
    "86", "90", "91", "92", "93", "94", "95", "98",
))  # fmt: skip


def phone_number(raw: str) -> str:
    """raw as clerk.mask_phone_number(raw) gives it."""
    digits = _NOT_DIGIT.sub("", raw)
    if not raw.strip(" ").startswith("+"):
        code = 0
    elif digits[:1] in _ONE_DIGIT_CODES:
        code = 1
    elif digits[:2] in _TWO_DIGIT_CODES:
        code = 2
    else:
        code = 3
    if len(digits) - code < 3:
        return BULLET * len(digits)
    prefix = f"+{digits[:code]} " if code else ""
    return prefix + BULLET * (len(digits) - code - 2) + digits[-2:]
