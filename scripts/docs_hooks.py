"""mkdocs hooks: the docs pages built from the project's own lists, so nothing is written twice.

- reports/NAME.md for every file of sql/reports: the question, columns, empty-mirror
  behaviour and notes of the file's header (worker.reports, from worker.sqlfiles), the
  example of docs/reports/examples/NAME.md where there is one, and the definition itself;
- one entry per report under Reports in the nav, in the files' order;
- where a page says <!-- generated: reports --> the table of reports and their questions,
  and where it says <!-- generated: variables --> the table of worker.config.VARIABLES.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from worker import config as settings
from worker.cli.report import METAVARS
from worker.reports import REPORTS

EXAMPLES = "reports/examples"


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    for section in config.nav or []:
        if isinstance(section, dict) and "Reports" in section:
            section["Reports"] += [{name: f"reports/{name}.md"} for name in REPORTS]
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    examples = Path(config.docs_dir) / EXAMPLES
    for name in REPORTS:
        example = examples / f"{name}.md"
        text = report_page(name, example.read_text() if example.exists() else "")
        files.append(File.generated(config, f"reports/{name}.md", content=text))
    return files


def on_page_markdown(markdown: str, page: Page, **_: Any) -> str:
    markdown = markdown.replace("<!-- generated: reports -->", reports_table())
    return markdown.replace("<!-- generated: variables -->", variables_table())


def report_page(name: str, example: str) -> str:
    report = REPORTS[name]
    header = report.header
    options = "".join(f" --{p.replace('_', '-')} {METAVARS[p]}" for p in report.parameters)
    title = re.sub(r"(clerk\.\w+(?:\([^)]*\))?)", r"`\1`", header.title)
    parts = [
        f"# {name}",
        f"**{header.question}**",
        f"`clerk-mirror report {name}{options}` prints it. It is {title}, defined in"
        f" `sql/{header.path}`.",
        "## Columns",
        "| column | meaning |\n| --- | --- |\n"
        + "\n".join(
            f"| {_code_list(names)} | {_cell(meaning)} |" for names, meaning in header.columns
        ),
        f"On an empty mirror: {header.empty}",
    ]
    if header.notes:
        parts += ["## How it is computed", header.notes]
    if example.strip():
        parts += ["## Example", example.strip()]
    parts += ["## Definition", f"```sql\n{header.definition.strip()}\n```"]
    return "\n\n".join(parts) + "\n"


def reports_table() -> str:
    rows = [(f"[{name}]({name}.md)", _cell(report.question)) for name, report in REPORTS.items()]
    return _table(("report", "question"), rows)


def variables_table() -> str:
    rows = [
        (f"`{v.name}`", _cell(v.meaning), _cell(v.default), _cell(v.processes))
        for v in settings.VARIABLES
    ]
    return _table(("variable", "meaning", "default", "read by"), rows)


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = [head, tuple("---" for _ in head), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _code_list(names: str) -> str:
    return ", ".join(f"`{n.strip()}`" for n in names.split(","))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
