"""The environment tests run in: a developer's shell never leaks into them.

tests/conftest.py calls isolate() before anything imports the project's modules.
"""

from __future__ import annotations

import os
import tempfile

# The project's variables: every test names what it uses.
PROJECT_VARS = (
    "CLERK_WEBHOOK_SIGNING_SECRET",
    "CLERK_SECRET_KEY",
    "CLERK_API_URL",
    "CLERK_MIRROR_QUEUE",
    "PORT",
    "CLERK_MIRROR_PII_KEY",
    "CLERK_MIRROR_ERASE_DELETED_AFTER_DAYS",
    "LOG_FORMAT",
    "CLERK_MIRROR_CONSOLE_PASSWORD",
    "CLERK_MIRROR_CONSOLE_SECRET",
)
# The servers DATABASE_URL and REDIS_URL named when the session started ("" for none).
SERVERS: dict[str, str] = {"postgres": "", "redis": ""}


def isolate() -> None:
    """Take the servers' URLs and the project's variables out of the environment."""
    SERVERS["postgres"] = os.environ.pop("DATABASE_URL", "")
    SERVERS["redis"] = os.environ.pop("REDIS_URL", "")
    for name in PROJECT_VARS:
        os.environ.pop(name, None)
    # This session's metrics (and its web and worker subprocesses') in a directory of its
    # own, set before anything imports worker.metrics.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cpm-test-metrics-")
