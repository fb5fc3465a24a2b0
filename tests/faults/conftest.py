"""Fault tests share one burst of events and its one-by-one reference (costly to compute)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults.harness import one_by_one
from tests.faults.synth import Event, burst


@pytest.fixture(scope="session")
def burst_2000(services: dict[str, str], template_db: str) -> tuple[list[Event], dict[str, Any]]:
    """200 users x 10 updates, oldest first, and the mirror they give applied one by one."""
    events = burst(users=200, versions=10)
    return events, one_by_one(services["postgres"], template_db, events)
