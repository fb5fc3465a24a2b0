"""The keyed hash and the masked form: what analysts get instead of a number."""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers
import psycopg

from worker import config
from worker.privacy import pii


def test_hash_is_hmac_sha256_of_the_number_under_the_key_and_none_without_a_key() -> None:
    key = b"k" * 32
    expected = hmac.new(key, b"+447700900123", hashlib.sha256).hexdigest()

    def hasher(environ: dict[str, str]) -> pii.Hasher:
        return pii.hasher(config.from_env(environ).pii_key)

    assert hasher({"CLERK_MIRROR_PII_KEY": "k" * 32})("+447700900123") == expected
    assert pii.phone_hash(key, "+447700900123") != pii.phone_hash(b"x" * 32, "+447700900123")
    assert hasher({})("+447700900123") is None
    assert hasher({"CLERK_MIRROR_PII_KEY": "  "})("+447700900123") is None
    assert hasher({"CLERK_MIRROR_PII_KEY": "k" * 32})(None) is None


def test_mask_keeps_the_calling_code_of_every_region_and_the_last_two_digits(
    conn: psycopg.Connection,
) -> None:
    numbers = {}
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number_for_type(
            region, phonenumbers.PhoneNumberType.MOBILE
        ) or phonenumbers.example_number(region)
        if example is not None:
            numbers[phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)] = (
                example
            )
    assert len(numbers) > 200
    rows = conn.execute(
        "SELECT n, clerk.mask_phone_number(n) FROM unnest(%s::text[]) AS n", (list(numbers),)
    ).fetchall()
    for number, masked in rows:
        national = str(numbers[number].national_number)
        code = numbers[number].country_code
        if numbers[number].italian_leading_zero:
            national = "0" * (numbers[number].number_of_leading_zeros or 1) + national
        assert masked == f"+{code} " + "•" * (len(national) - 2) + national[-2:], number


def test_mask_of_odd_values_never_shows_more_than_two_digits(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT clerk.mask_phone_number(n) FROM unnest(%s::text[]) AS n",
        (["+447700900123", "07700 900123", "12", "+44", "", None],),
    ).fetchall()
    assert [r[0] for r in rows] == ["+44 ••••••••23", "•••••••••23", "••", "••", "", None]
