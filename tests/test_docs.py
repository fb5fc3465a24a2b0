"""The docs site builds strictly, the README stays short, and each question is written once."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from worker.reports import REPORTS

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """mkdocs build --strict into a throwaway directory: a warning fails it."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", config, "-d", site],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_docs_site_builds_strictly_with_a_page_per_report(tmp_path: Path) -> None:
    done = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    for name, report in REPORTS.items():
        page = html.unescape((tmp_path / "site" / "reports" / name / "index.html").read_text())
        assert report.question in page, name
        assert f"sql/{report.header.path}" in page, name


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    with (docs / "operations.md").open("a") as page:
        page.write("\nSee [the missing page](missing.md).\n")
    config = (ROOT / "mkdocs.yml").read_text()
    config = config.replace("docs_dir: docs", f"docs_dir: {docs}")
    config = config.replace("- scripts/", f"- {ROOT}/scripts/")
    (tmp_path / "mkdocs.yml").write_text(config)
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "missing.md" in done.stderr


def test_the_readme_is_short_and_every_link_in_it_resolves() -> None:
    text = README.read_text()
    assert 60 <= len(text.splitlines()) <= 100
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert links
    for link in links:
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link


def test_each_question_is_written_in_its_sql_file_only() -> None:
    written = [README, *(ROOT / "docs").rglob("*.md")]
    written += [*(ROOT / "worker").rglob("*.py"), *(ROOT / "webhooks").rglob("*.py")]
    written += [*(ROOT / "webhooks").rglob("*.html")]
    for report in REPORTS.values():
        for path in written:
            assert report.question not in path.read_text(), (report.question, path)
