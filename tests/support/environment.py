"""The environment tests run in: a developer's shell never leaks into them.

tests/conftest.py calls isolate() before anything imports the project's modules.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from worker.variables import VARIABLES

# Every variable a process reads (worker.variables): every test names what it uses.
PROJECT_VARS = tuple(v.name for v in VARIABLES)
# The servers DATABASE_URL and REDIS_URL named when the session started ("" for none).
SERVERS: dict[str, str] = {"postgres": "", "redis": ""}


def isolate() -> None:
    """Take the servers' URLs and the project's variables out of the environment."""
    SERVERS["postgres"] = os.environ.pop("DATABASE_URL", "")
    SERVERS["redis"] = os.environ.pop("REDIS_URL", "")
    for name in PROJECT_VARS:
        os.environ.pop(name, None)
    # This session's state (beat schedules) and metrics, its web and worker subprocesses'
    # included, in a directory of its own, set before anything imports the project.
    session = tempfile.mkdtemp(prefix="cpm-test-")
    atexit.register(shutil.rmtree, session, ignore_errors=True)
    os.environ["XDG_STATE_HOME"] = os.path.join(session, "state")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(session, "metrics")
