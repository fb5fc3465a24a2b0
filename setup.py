"""What pyproject.toml cannot say: the top-level sql/ folder ships inside the package.

setuptools finds every package itself, so a new one can never be left out of the wheel.
The one addition is sql/, mapped to worker.sql so that `clerk-mirror migrate`, the report
command and the console find its files in an installed package as in a checkout.
"""

from __future__ import annotations

from setuptools import find_namespace_packages, setup

# Namespace packages too: the folders of templates, static files and samples ship as data.
PACKAGES = find_namespace_packages(
    include=["webhooks", "webhooks.*", "worker", "worker.*"], exclude=["*.__pycache__"]
)
# sql/'s folders (migrations, views, reports), each a package of .sql files (pyproject.toml).
SQL_FOLDERS = [f"worker.sql.{name}" for name in find_namespace_packages(where="sql")]

setup(
    packages=[*PACKAGES, "worker.sql", *SQL_FOLDERS],
    package_dir={"worker.sql": "sql"},
)
