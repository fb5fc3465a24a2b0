"""Fault tests share one burst of events and its one-by-one reference (costly to compute)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import one_by_one
from tests.faults.synth import Event, burst


@pytest.fixture(scope="session")
def burst_2000(services: dict[str, str], template_db: str) -> tuple[list[Event], dict[str, Any]]:
    """200 users x 10 updates, oldest first, and the mirror they give applied one by one."""
    events = burst(users=200, versions=10)
    return events, one_by_one(services["postgres"], template_db, events)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory the postgres user can reach, for servers this test starts and kills."""
    path = Path(tempfile.mkdtemp(prefix="cpm-fault-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
