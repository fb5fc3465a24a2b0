"""Phone intelligence: type, validity, Clerk test numbers and regions, offline, on every row."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import phonenumbers
import psycopg
import pytest
from click.testing import CliRunner

from tests.support.bodies import STORY
from tests.support.processes import gone
from tests.worker.mirror.helpers import deliver
from worker.cli.main import main
from worker.mirror import bulk, intel, numbers
from worker.mirror.events import region_code


@pytest.mark.parametrize(
    ("number", "expected", "region"),
    [
        ("+447781123456", ("mobile", True, False), "GG"),
        ("+447797123456", ("mobile", True, False), "JE"),
        ("+447624123456", ("mobile", True, False), "IM"),
        ("+447400123456", ("mobile", True, False), "GB"),
        ("+448001234567", ("toll_free", True, False), "GB"),
        ("+448712345678", ("premium_rate", True, False), "GB"),
        ("+448431234567", ("premium_rate", True, False), "GB"),
        ("+34901123456", ("shared_cost", True, False), "ES"),
        ("+447640123456", ("pager", True, False), "GB"),
        ("+445612345678", ("voip", True, False), "GB"),
        ("+19005551234", ("premium_rate", True, False), "US"),
        ("+12025550143", ("fixed_line_or_mobile", True, True), "US"),
        ("+14155550199", ("fixed_line_or_mobile", True, True), "US"),
        ("+14155550200", ("fixed_line_or_mobile", True, False), "US"),
        ("+447700900123", ("unknown", False, False), "GB"),
        ("+999", ("unknown", False, False), None),
    ],
)
def test_classify_tells_type_validity_and_test_range_and_regions_of_44(
    number: str, expected: tuple[str, bool, bool], region: str | None
) -> None:
    assert intel.classify(number) == expected
    assert region_code(number) == region


def test_one_parse_tells_what_the_library_tells_from_its_own_calls() -> None:
    # The region, validity and type come from one parse; the library's public calls parse
    # and look the region up each on their own. Random numbers of every calling code, of
    # every length the parser takes, valid or not.
    rng = random.Random(7)
    codes = [*sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE), 999, 979, 888]
    checked = valid = 0
    for _ in range(20_000):
        number = f"+{rng.choice(codes)}" + "".join(rng.choices("0123456789", k=rng.randint(2, 14)))
        facts = numbers.facts(number)
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            assert facts == (None, "unknown", False, False)
            continue
        checked += 1
        valid += facts.is_valid_number
        assert facts.is_valid_number == phonenumbers.is_valid_number(parsed), number
        kind = numbers.TYPE_NAMES[phonenumbers.number_type(parsed)]
        assert facts.number_type == (kind if facts.is_valid_number else "unknown"), number
        region = phonenumbers.region_code_for_number(parsed) or (
            phonenumbers.region_code_for_country_code(parsed.country_code)
        )
        assert facts.region_code == (None if region in (None, "ZZ", "001") else region), number
    assert checked > 15_000
    assert valid > 500


def random_numbers(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"+44{rng.randrange(10**9, 10**10)}" for _ in range(n)]


def test_a_classifier_leaves_its_process_answers_in_the_cache() -> None:
    todo = random_numbers(numbers.CLASSIFY_APART_FROM, seed=8)
    numbers.forget()
    with numbers.Classifier() as classifier:
        classifier.prime(todo)
        assert classifier.process is not None  # they went to the other process
        cached = {n: numbers._cache.get(n) for n in todo}
    numbers.forget()
    assert cached == {n: numbers.facts(n) for n in todo}


def test_a_few_numbers_are_classified_where_they_are_parsed() -> None:
    numbers.forget()
    with numbers.Classifier() as classifier:
        classifier.prime(random_numbers(numbers.CLASSIFY_APART_FROM - 1, seed=9))
        assert classifier.process is None
    assert numbers._cache == {}


def test_a_classifier_whose_process_cannot_start_leaves_them_to_the_parse(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr(numbers, "CLASSIFYING_PROCESS", (str(tmp_path / "no-such-python"),))
    numbers.forget()
    todo = random_numbers(numbers.CLASSIFY_APART_FROM, seed=10)
    with numbers.Classifier() as classifier:
        classifier.prime(todo)
        classifier.prime(todo)  # tried once, then not again
    assert [r.message for r in caplog.records] == ["numbers classified in this process from now on"]
    assert caplog.records[0].error.startswith("FileNotFoundError: ")
    assert numbers._cache == {}
    assert numbers.facts(todo[0]).region_code == "GB"


def test_a_classifier_that_stops_answering_is_left(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(numbers, "ANSWER_WITHIN_S", 1.0)
    monkeypatch.setattr(numbers, "CLOSE_WITHIN_S", 1.0)
    numbers.forget()
    with numbers.Classifier() as classifier:
        classifier.prime(random_numbers(numbers.CLASSIFY_APART_FROM, seed=11))
        assert classifier.process is not None
        child = classifier.process.pid
        os.kill(child, signal.SIGSTOP)  # stuck: it will never answer
        started = time.monotonic()
        classifier.prime(random_numbers(numbers.CLASSIFY_APART_FROM, seed=12))
        assert time.monotonic() - started < 10
        assert classifier.process is None
        assert not classifier.apart
    assert gone(child, within_s=5)
    assert caplog.records[-1].error.startswith("TimeoutError: ")


def test_a_classifying_process_that_dies_is_left(caplog: pytest.LogCaptureFixture) -> None:
    numbers.forget()
    with numbers.Classifier() as classifier:
        classifier.prime(random_numbers(numbers.CLASSIFY_APART_FROM, seed=14))
        assert classifier.process is not None
        classifier.process.kill()
        classifier.process.wait()
        classifier.prime(random_numbers(numbers.CLASSIFY_APART_FROM, seed=15))
        assert not classifier.apart
    assert caplog.records[-1].error.split(":")[0] in ("EOFError", "BrokenPipeError")


def test_the_classifying_process_ends_with_the_process_that_started_it(tmp_path: Path) -> None:
    # Killed outright (SIGKILL, the OOM killer, a supervisor), the run leaves no process.
    script = tmp_path / "run.py"
    script.write_text(
        "import time\n"
        "from worker.mirror import numbers\n"
        "classifier = numbers.Classifier()\n"
        f"classifier.prime({random_numbers(numbers.CLASSIFY_APART_FROM, seed=13)!r})\n"
        "print(classifier.process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True) as run:
        try:
            assert run.stdout is not None
            child = int(run.stdout.readline())
        finally:
            run.kill()
    assert gone(child, within_s=5)


def test_prefix_is_the_number_without_its_last_four_digits() -> None:
    assert intel.number_prefix("+447700912345") == "+44770091"
    assert intel.number_prefix("+1234") is None


INTEL = (
    "SELECT 'p', id, number_type, is_valid_number, is_test_number FROM clerk.phone_numbers"
    " UNION ALL SELECT 'h', phone_number_id, number_type, is_valid_number, is_test_number"
    " FROM clerk.phone_number_history ORDER BY 1, 2, 3"
)
US, GB = "idn_2pPhoneAdaUS00000000001", "idn_2pPhoneAdaGB00000000002"


# Small batches go in as VALUES, bigger ones through the COPY stages: both carry the intel.
@pytest.mark.parametrize("values_max_rows", [bulk.VALUES_MAX_ROWS, 0])
def test_the_worker_writes_intel_on_phones_and_history(
    conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch, values_max_rows: int
) -> None:
    monkeypatch.setattr(bulk, "VALUES_MAX_ROWS", values_max_rows)
    deliver(conn, [(name, f"msg_{i}") for i, name in enumerate(STORY[:4])])
    rows = conn.execute(INTEL).fetchall()
    us, gb = ("fixed_line_or_mobile", True, True), ("unknown", False, False)
    assert rows == [
        ("h", GB, *gb),
        ("h", US, *us),
        ("h", US, *us),
        ("h", US, *us),
        ("p", GB, *gb),
        ("p", US, *us),
    ]


def test_classify_fills_rows_mirrored_before_the_columns_existed(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    with psycopg.connect(database_url) as conn:
        deliver(conn, [(name, f"msg_{i}") for i, name in enumerate(STORY[:4])])
        done = conn.execute(INTEL).fetchall()
        conn.execute(
            "UPDATE clerk.phone_numbers SET number_type = NULL, is_valid_number = NULL,"
            " is_test_number = NULL"
        )
        conn.execute(
            "UPDATE clerk.phone_number_history SET number_type = NULL, is_valid_number = NULL,"
            " is_test_number = NULL"
        )
    result = CliRunner().invoke(main, ["classify", "--chunk", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("classified 6 rows in ")
    with psycopg.connect(database_url) as conn:
        assert conn.execute(INTEL).fetchall() == done
    again = CliRunner().invoke(main, ["classify"])
    assert again.output.startswith("classified 0 rows in ")
