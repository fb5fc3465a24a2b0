"""What pyproject.toml cannot say: the top-level sql/ folder ships inside the package.

setuptools finds every Python package itself (each has an __init__.py), so a new one
can never be left out of the wheel. The one addition is sql/, mapped to worker.sql so
that `clerk-mirror migrate` finds its files in an installed package as in a checkout.
"""

from __future__ import annotations

from setuptools import find_packages, setup

PACKAGES = find_packages(include=["webhooks", "webhooks.*", "worker", "worker.*"])

setup(
    packages=[*PACKAGES, "worker.sql"],
    package_dir={"worker.sql": "sql"},
)
