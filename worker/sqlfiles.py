"""The sql/ folder: versioned migrations, and the one file that defines each view and function.

sql/migrations/NNNN_*.sql change the schema, each once. sql/views/NN_*.sql (the definitions
that the writers keep tables by) and sql/reports/NN_*.sql (one report each) hold the current
definition of every view and function, which `clerk-mirror migrate` runs again whenever the
file changes. Each of those files opens with a header that the report command, the console
and the docs read, so a report's question is written in its file and nowhere else:

    -- clerk.report_x (view)
    --
    -- Question: the one-line question it answers.
    --
    -- Columns:
    --   name: meaning, continued on lines
    --     indented by two more spaces.
    --
    -- Empty mirror: what it gives on an empty mirror.
    --
    -- Free text (Markdown) on how it is computed and why.

and ends with its GRANT and a COMMENT ON that carries the question, so that `\\d+` shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# Run in this order: a report may read a view of views/, never the other way round.
REPEATABLE_DIRS = ("views", "reports")
_SECTION = re.compile(r"^(Question|Columns|Empty mirror):\s*(.*)$")
_COMMENT = re.compile(
    r"^COMMENT ON (VIEW|FUNCTION) (clerk\.\w+(?:\([^)]*\))?) IS\s+'((?:[^']|'')*)';", re.M
)


class SqlFileError(RuntimeError):
    """A file of sql/ is missing or its header is not as the module docstring shows."""


@dataclass(frozen=True, slots=True)
class Header:
    """What one file of sql/views or sql/reports says about its objects."""

    path: str  # relative to sql/, e.g. "reports/04_integrity.sql"
    name: str  # the file's stem without its number: the report's name
    title: str  # the header's first lines: the objects the file defines
    question: str
    columns: tuple[tuple[str, str], ...]
    empty: str
    notes: str
    comments: tuple[tuple[str, str, str], ...]  # COMMENT ON: (kind, object, text)
    definition: str  # the file after its header


def root() -> Path:
    """sql/ as shipped inside the package (worker/sql), or beside it in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "sql", here.parent / "sql"):
        if (candidate / "migrations").is_dir():
            return candidate
    raise SqlFileError("sql/migrations not found next to the worker package")


def migrations(folder: Path) -> list[Path]:
    return sorted((folder / "migrations").glob("*.sql"))


def repeatables(folder: Path) -> list[Path]:
    """The files of views and functions, in the order they run."""
    return [p for sub in REPEATABLE_DIRS for p in sorted((folder / sub).glob("*.sql"))]


def parse(path: Path, folder: Path) -> Header:
    """The header of one file of sql/views or sql/reports."""
    text = path.read_text()
    lines = text.splitlines()
    end = next((i for i, line in enumerate(lines) if not line.startswith("--")), len(lines))
    comment = [line[3:] if line.startswith("-- ") else line[2:] for line in lines[:end]]
    blank = next((i for i, line in enumerate(comment) if not line.strip()), len(comment))
    sections = _sections(comment[blank:])
    relative = path.relative_to(folder).as_posix()
    for needed in ("Question", "Columns", "Empty mirror"):
        if not sections.get(needed):
            raise SqlFileError(f"sql/{relative}: its header has no {needed}:")
    question = " ".join(sections["Question"])
    comments = tuple((k, o, t.replace("''", "'")) for k, o, t in _COMMENT.findall(text))
    if question not in {t for _, _, t in comments}:
        raise SqlFileError(f"sql/{relative}: no COMMENT ON carries its question")
    return Header(
        path=relative,
        name=path.stem.split("_", 1)[1],
        title=" ".join(line.strip() for line in comment[:blank]),
        question=question,
        columns=_items(sections["Columns"]),
        empty=" ".join(sections["Empty mirror"]),
        notes="\n".join(sections.get("", [])).strip(),
        comments=comments,
        definition="\n".join(lines[end:]).strip() + "\n",
    )


def _sections(comment: list[str]) -> dict[str, list[str]]:
    """Question, Columns and Empty mirror, each up to a blank line; the rest under ""."""
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in comment:
        match = _SECTION.match(line)
        if match:
            current = match.group(1)
            sections[current] = [match.group(2)] if match.group(2) else []
        elif not line.strip() and current:
            current = ""
        elif current:
            sections[current].append(line)
        elif line.strip() or sections[""]:
            sections[""].append(line)
    return sections


def _items(lines: list[str]) -> tuple[tuple[str, str], ...]:
    """`  name: meaning` items, each continued by lines indented two spaces more."""
    joined: list[str] = []
    for line in lines:
        if line.startswith("    ") and joined:
            joined[-1] += " " + line.strip()
        else:
            joined.append(line.strip())
    pairs = [item.split(": ", 1) for item in joined]
    return tuple((p[0], p[1] if len(p) > 1 else "") for p in pairs)


@cache
def reports() -> dict[str, Header]:
    """Every file of sql/reports by report name, in file order."""
    folder = root()
    return {h.name: h for h in (parse(p, folder) for p in sorted(folder.glob("reports/*.sql")))}
