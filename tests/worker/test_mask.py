"""One phone mask: Python's (logs, console, messages) is SQL's clerk.mask_phone_number."""

from __future__ import annotations

import phonenumbers
import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhooks.console import masking
from worker import logs, mask

ODD = ["+447700900123", "07700 900123", "12", "+44", "", " ", "+", " +1 (202) 555-0143 ",
       "+999 123", "++44 77", "abc", "+٣٣٦١٢٣٤٥٦٧٨", "tel:+33612345678", "+0123456789"]  # fmt: skip


def sql_masks(conn: psycopg.Connection, values: list[str]) -> list[str]:
    rows = conn.execute(
        "SELECT clerk.mask_phone_number(v) FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, i)"
        " ORDER BY i",
        (values,),
    ).fetchall()
    return [row[0] for row in rows]


def examples() -> list[str]:
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number_for_type(
            region, phonenumbers.PhoneNumberType.MOBILE
        ) or phonenumbers.example_number(region)
        if example is not None:
            found.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    return found


def test_python_masks_every_region_and_odd_values_exactly_as_sql(conn: psycopg.Connection) -> None:
    # Every calling code, with each possible first digits after a +, and the odd values.
    values = examples() + ODD + [f"+{code}2025550143" for code in range(1000)]
    assert len(values) > 1200
    assert [mask.phone_number(v) for v in values] == sql_masks(conn, values)


# The connection only reads: sharing it across examples is safe.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.text(
            alphabet=st.sampled_from("+0123456789 -().٣x\t"),
            max_size=20,
        ),
        min_size=1,
        max_size=20,
    )
)
def test_python_and_sql_agree_on_any_string(conn: psycopg.Connection, values: list[str]) -> None:
    assert [mask.phone_number(v) for v in values] == sql_masks(conn, values)


def test_the_logs_and_the_console_show_the_mask_analysts_see(conn: psycopg.Connection) -> None:
    (expected,) = sql_masks(conn, ["+447700900123"])
    assert expected == "+44 ••••••••23"
    assert logs.mask("failed for +447700900123 at 12:00") == f"failed for {expected} at 12:00"
    assert masking.phone("+447700900123") == expected
    assert masking.text("row (idn_1, +447700900123)") == f"row (idn_1, {expected})"
