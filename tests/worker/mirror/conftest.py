"""Every mirror test that touches the database runs on each database flavor."""

from __future__ import annotations

import pytest

from tests.support.databases import every_database


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    every_database(metafunc)
