"""Test harness: a clean environment, then the fixture modules (services, databases).

Helpers that tests import live in tests/support/; fixtures live in the fix_* modules
loaded below. No test imports a conftest.
"""

from __future__ import annotations

from tests.support import environment

# Before the fixture modules import the project: nothing may read the developer's shell.
environment.isolate()

pytest_plugins = ("tests.fix_services", "tests.fix_databases")
