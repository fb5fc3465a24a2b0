"""The model runs on each database flavor: the server default, and ICU in a far zone."""

from __future__ import annotations

import pytest

from tests.support.databases import every_database


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    every_database(metafunc)
