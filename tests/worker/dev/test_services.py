"""worker.dev: throwaway servers answer while up and leave no process behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from worker.dev import services as devservices
from worker.dev.services import Service


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not tmp_path: pytest keeps it under a 0700 directory that the postgres user cannot pass.
    path = Path(tempfile.mkdtemp(prefix="devservices-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def pid_gone(pid: int, timeout: float = 5.0) -> bool:
    """True once pid has exited (a zombie has exited too: only its parent can reap it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def stop_and_check(service: Service, answers: bool) -> None:
    assert answers
    service.stop()
    service.stop()  # idempotent: the second call finds nothing to stop
    assert pid_gone(service.pid)


def test_started_postgres_answers_until_stopped(data_dir: Path) -> None:
    port = devservices.free_port()
    pg = devservices.start_postgres(data_dir / "postgres", port)
    password = (data_dir / "postgres.password").read_text().strip()
    assert pg.url == f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
    stop_and_check(pg, devservices.postgres_answers(pg.url))
    assert not devservices.postgres_answers(pg.url)


def test_started_redis_answers_until_stopped(data_dir: Path) -> None:
    port = devservices.free_port()
    rd = devservices.start_redis(data_dir / "redis", port)
    password = (data_dir / "redis.password").read_text().strip()
    assert rd.url == f"redis://:{password}@127.0.0.1:{port}/0"
    stop_and_check(rd, devservices.redis_answers(rd.url))
    assert not devservices.redis_answers(rd.url)


def test_postgres_keeps_its_data_and_starts_over_a_stale_pidfile(data_dir: Path) -> None:
    pg = devservices.start_postgres(data_dir / "postgres")
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
    pg.stop()
    # What a crash leaves: a postmaster.pid naming a process that is not this cluster's.
    (pg.home / "postmaster.pid").write_text(f"{os.getpid()}\n{pg.home}\n")
    again = devservices.start_postgres(data_dir / "postgres")
    try:
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
    finally:
        again.stop()
    assert pid_gone(again.pid)


def test_ensure_services_starts_nothing_when_urls_are_set(data_dir: Path) -> None:
    environ = {"DATABASE_URL": "postgresql://db.invalid/x", "REDIS_URL": "redis://r.invalid/0"}
    additions, started = devservices.ensure_services(data_dir, environ)
    assert (additions, started) == ({}, [])
    assert list(data_dir.iterdir()) == []


def test_run_exports_urls_to_the_command_and_stops_what_it_started(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    show = "import os; print(os.environ['DATABASE_URL']); print(os.environ['REDIS_URL'])"
    done = subprocess.run(
        [sys.executable, "-m", "worker.dev", "run", "--data", str(data_dir), "--",
         sys.executable, "-c", show],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    database_url, redis_url = done.stdout.split()
    assert database_url.endswith("/clerk_mirror")
    assert not devservices.postgres_answers(database_url)
    assert not devservices.redis_answers(redis_url)
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


def test_postgres_left_running_by_a_dead_run_is_replaced(data_dir: Path) -> None:
    orphan = devservices.start_postgres(data_dir / "postgres")
    fresh = devservices.start_postgres(data_dir / "postgres")
    try:
        assert pid_gone(orphan.pid)
        assert devservices.postgres_answers(fresh.url)
    finally:
        fresh.stop()


def test_run_forwards_sigint_and_still_stops_its_services(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    wait = "import os, time; print(os.environ['DATABASE_URL'], flush=True); time.sleep(60)"
    runner = subprocess.Popen(
        [sys.executable, "-m", "worker.dev", "run", "--data", str(data_dir), "--",
         sys.executable, "-c", wait],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert runner.stdout is not None
    with runner:
        database_url = runner.stdout.readline().strip()
        assert devservices.postgres_answers(database_url)
        runner.send_signal(signal.SIGINT)
        assert runner.wait(timeout=60) == 128 + signal.SIGINT
    assert not devservices.postgres_answers(database_url)
