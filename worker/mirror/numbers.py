"""What a number's digits say, offline, from `phonenumbers`: one parse per number.

Its region (worker.mirror.events) and its type, validity and Clerk test-range flag
(worker.mirror.intel) come from the same parse, cached: parsing is the costly part, and a
backfill that meets each number once parsed it twice.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final, NamedTuple

import phonenumbers

# The library's names in lower case: mobile, fixed_line_or_mobile, voip, premium_rate, ...
TYPE_NAMES: Final[dict[int, str]] = {
    value: name.lower()
    for name, value in vars(phonenumbers.PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}
# Clerk's test numbers: +1 XXX 555-0100 to 555-0199 (no SMS is sent to them).
TEST_NUMBER: Final = re.compile(r"\+1[0-9]{3}55501[0-9]{2}")


class Facts(NamedTuple):
    region_code: str | None
    number_type: str
    is_valid_number: bool
    is_test_number: bool


# Keys are numbers the parser bounded (worker.mirror.events, MAX_PHONE_NUMBER characters at
# most): the cache stays within a few MB however long the numbers a body sends.
@lru_cache(maxsize=65536)
def facts(number: str) -> Facts:
    """The number's region (None when it names none), type ('unknown' when it is invalid),
    validity and test-range flag."""
    is_test = TEST_NUMBER.fullmatch(number) is not None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return Facts(None, "unknown", False, is_test)
    region: str | None = phonenumbers.region_code_for_number(parsed)
    # phonenumbers.is_valid_number is this: a region, and a type its patterns know.
    code = phonenumbers.number_type(parsed)
    valid = region is not None and code != phonenumbers.PhoneNumberType.UNKNOWN
    kind = TYPE_NAMES.get(code, "unknown") if valid else "unknown"
    # Numbers in ranges reserved for fiction or not yet allocated still belong to their
    # calling code's main region (+44 7700 900xxx is GB).
    region = region or phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    return Facts(region if region and region not in ("ZZ", "001") else None, kind, valid, is_test)
