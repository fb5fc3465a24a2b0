"""make run, end to end: it serves on 127.0.0.1 only, its own Postgres and Redis ask for
their passwords, and status still finds its database through the private .data/database-url.

Runs what `make run` runs (python -m worker.dev run -- scripts/dev-run) in a copy of the
checkout's run files, so that its .data/ is the test's own.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from tests.support.processes import free_port, wait_for

ROOT = Path(__file__).parents[2]
RUN_FILES = ("Procfile", "gunicorn.conf.py", "scripts/dev-run")


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200 ")
    except OSError:
        return False


def stop_leftover_postgres(home: Path) -> None:
    """Stop a Postgres left on home by a run that had to be killed (by its own pid)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((home / "postmaster.pid").read_text().split()[0])
        if Path(os.readlink(f"/proc/{pid}/cwd")) == home:
            os.kill(pid, signal.SIGINT)


@pytest.fixture
def checkout() -> Iterator[Path]:
    # Not tmp_path: pytest keeps it under a 0700 directory that the postgres user cannot pass.
    repo = Path(tempfile.mkdtemp(prefix="cpm-make-run-"))
    repo.chmod(0o755)
    for name in RUN_FILES:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    (repo / ".venv").symlink_to(ROOT / ".venv")
    yield repo
    stop_leftover_postgres(repo / ".data" / "postgres")
    shutil.rmtree(repo, ignore_errors=True)


@pytest.mark.slow
def test_make_run_serves_loopback_only_with_private_passworded_services(
    checkout: Path,
) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "CELERY_CONCURRENCY": "1",
        "CLERK_MIRROR_QUEUE": f"cpm_test_{uuid.uuid4().hex[:12]}",
        "LOG_FORMAT": "json",
    }
    log = checkout / "make-run.log"
    with log.open("w") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "worker.dev", "run", "--data", ".data", "--", "scripts/dev-run"],
            cwd=checkout,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: answers("127.0.0.1", port) or run.poll() is not None, 120, "make run")
        assert run.poll() is None, log.read_text()[-3000:]
        # Loopback only: 127.0.0.2 is this machine too, but not the address it bound.
        assert not answers("127.0.0.2", port)

        data = checkout / ".data"
        for private in ("database-url", "postgres.password", "redis.password"):
            info = (data / private).stat()
            assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.getuid(), 0o600), private
        url = (data / "database-url").read_text().strip()
        password = (data / "postgres.password").read_text().strip()
        assert f":{password}@" in url
        info = psycopg.conninfo.conninfo_to_dict(url)
        info.pop("password")
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(psycopg.conninfo.make_conninfo(**info), connect_timeout=5)
        printed = re.search(
            r"devservices: redis at redis://:\*\*\*@127\.0\.0\.1:(\d+)/", log.read_text()
        )
        assert printed, log.read_text()[-3000:]
        redis_port = int(printed.group(1))
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=redis_port, socket_timeout=5).ping()
        # What it printed shows neither password.
        assert password not in log.read_text()
        assert (data / "redis.password").read_text().strip() not in log.read_text()

        status = subprocess.run(
            [str(checkout / ".venv" / "bin" / "clerk-mirror"), "status"],
            cwd=checkout,
            env={k: v for k, v in env.items() if k != "DATABASE_URL"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        assert "inbox: " in status.stdout
        assert "using make run's database" in status.stderr
    finally:
        if run.poll() is None:
            os.kill(run.pid, signal.SIGTERM)  # worker.dev run forwards it, then stops its servers
            try:
                run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
