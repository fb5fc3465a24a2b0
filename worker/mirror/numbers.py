"""What a number's digits say, offline, from `phonenumbers`: one parse per number.

Its region (worker.mirror.events) and its type, validity and Clerk test-range flag
(worker.mirror.intel) come from the same parse, cached: parsing is the costly part, and a
backfill that meets each number once parsed it twice.

The parse is pure Python and about a third of a backfill's CPU, which would share the
interpreter with the page's writer: a backfill classifies each page's numbers in a process
of its own (Classifier), and leaves the answers in the cache for the parse and the write.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import re
import select
import subprocess
import sys
from collections.abc import Iterable
from typing import IO, Final, NamedTuple

import phonenumbers

log = logging.getLogger(__name__)

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


# Numbers kept, at most: each key is a number the parser bounded (worker.mirror.events,
# MAX_PHONE_NUMBER characters at most), so the cache stays within a few MB however long the
# numbers a body sends.
CACHE_SIZE: Final = 65536
_cache: dict[str, Facts] = {}

# The classifying process: this module, in isolated mode (no current directory, no
# PYTHON* variables, on the path), run by the interpreter that runs this one.
CLASSIFYING_PROCESS: Final = (sys.executable, "-I", "-m", __spec__.name if __spec__ else __name__)
# A page's numbers take the classifying process well under a second; one that has not
# answered in this long is stuck (stopped, starved): it is left, and the run goes on
# without it. Closed, it ends at once; one that has not in this long is killed.
ANSWER_WITHIN_S: Final = 60.0
CLOSE_WITHIN_S: Final = 5.0

# A page with fewer numbers than this to classify is classified where it is parsed: the
# round trip to the classifying process, and starting it, would cost more.
CLASSIFY_APART_FROM: Final = 200


def facts(number: str) -> Facts:
    """The number's region (None when it names none), type ('unknown' when it is invalid),
    validity and test-range flag."""
    known = _cache.get(number)
    if known is None:
        known = _parse(number)
        _remember({number: known})
    return known


def forget() -> None:
    """Empty the cache."""
    _cache.clear()


def _remember(known: dict[str, Facts]) -> None:
    # Emptied when full: the numbers a batch or a page is using are written back at once.
    if len(_cache) + len(known) > CACHE_SIZE:
        _cache.clear()
    _cache.update(known)


def classify_many(numbers: list[str]) -> list[Facts]:
    """The facts of each number, in order: what the classifying process runs."""
    return [_parse(number) for number in numbers]


class Classifier:
    """Classifies numbers in a process of its own, into the cache of this one.

    The process is `python -m worker.mirror.numbers`: a JSON array of numbers a line in,
    their facts a line out. It starts on the first call with enough numbers to be worth it,
    in a session of its own, so that a terminal's Ctrl-C is for the run alone, and ends
    when its input does: when the run closes it, or ends in any way (SIGKILL too). Where
    no process may be started (a daemonic Celery worker), or it cannot start, dies or
    stops answering, the numbers are classified where they are parsed, as without it.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.apart = not multiprocessing.current_process().daemon

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def prime(self, numbers: Iterable[str]) -> None:
        """Have the numbers' facts in the cache, from the other process when there are
        enough of them; else they are worked out when asked for."""
        todo = sorted({n for n in numbers if n not in _cache})
        if not self.apart or len(todo) < CLASSIFY_APART_FROM:
            return
        try:
            answers = self._ask(todo)
        except (OSError, EOFError, ValueError, TypeError) as exc:  # classify here, as before
            log.warning(
                "numbers classified in this process from now on",
                extra={"error": f"{type(exc).__name__}: {exc}"},
            )
            self.apart = False
            self._close()
            return
        _remember(dict(zip(todo, answers, strict=True)))

    def _ask(self, todo: list[str]) -> list[Facts]:
        if self.process is None:
            self.process = subprocess.Popen(
                [*CLASSIFYING_PROCESS],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,
            )
        process = self.process
        to, back = _pipes(process)
        to.write(json.dumps(todo).encode() + b"\n")
        to.flush()
        ready, _, _ = select.select([back], [], [], ANSWER_WITHIN_S)
        if not ready:
            raise TimeoutError(f"the classifying process did not answer in {ANSWER_WITHIN_S} s")
        line = back.readline()
        if not line:
            raise EOFError(f"the classifying process ended ({process.poll()})")
        return [Facts(*facts) for facts in json.loads(line)]

    def _close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        to, back = _pipes(process)
        with contextlib.suppress(OSError):
            to.close()  # its input ends: so does it
        try:
            process.wait(timeout=CLOSE_WITHIN_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        back.close()


def _pipes(process: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    if process.stdin is None or process.stdout is None:
        raise OSError("the classifying process has no pipes")
    return process.stdin, process.stdout


def serve() -> None:
    """The classifying process: a JSON array of numbers a line in, their facts a line out,
    until its input ends."""
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        out.write(json.dumps(classify_many(json.loads(line))).encode() + b"\n")
        out.flush()


def _parse(number: str) -> Facts:
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


if __name__ == "__main__":
    serve()
