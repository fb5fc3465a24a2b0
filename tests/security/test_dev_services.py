"""make run's (and make test's) own Postgres and Redis let in only who holds their password.

Their servers listen on loopback, where every local account can connect: a Postgres that
trusts them all hands each one a superuser, and a Redis without a password lets each one
read the queue and run commands. Each reproduction connects as another local account
would: with no password, or as another role.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from worker.dev import passwords
from worker.dev import services as devservices
from worker.dev.services import Service


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not tmp_path: pytest keeps it under a 0700 directory that the postgres user cannot pass.
    path = Path(tempfile.mkdtemp(prefix="devservices-security-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def postgres(data_dir: Path) -> Iterator[Service]:
    service = devservices.start_postgres(data_dir / "postgres")
    yield service
    service.stop()


def without_password(url: str, **changes: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info.pop("password", None)
    info.update(changes)
    return psycopg.conninfo.make_conninfo(**info)


def refused(url: str) -> bool:
    """True when the server refuses this login for want of the right password."""
    try:
        with psycopg.connect(url, connect_timeout=5):
            return False
    except psycopg.OperationalError as exc:
        reason = str(exc)
    return "password" in reason or "authentication" in reason


def check_private(path: Path) -> None:
    info = path.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.getuid(), 0o600), path


def test_postgres_asks_every_local_account_for_its_password(
    postgres: Service, data_dir: Path
) -> None:
    assert devservices.postgres_answers(postgres.url)
    assert refused(without_password(postgres.url))
    assert refused(without_password(postgres.url, user="nobody"))
    assert refused(without_password(postgres.url, password="guess"))
    kept = data_dir / "postgres.password"
    check_private(kept)
    assert psycopg.conninfo.conninfo_to_dict(postgres.url)["password"] == kept.read_text().strip()
    hba = (postgres.home / "pg_hba.conf").read_text()
    assert "trust" not in [
        word for line in hba.splitlines() if not line.startswith("#") for word in line.split()
    ]
    # Not on the command line either, which every local account can read.
    assert kept.read_text().strip() not in Path(f"/proc/{postgres.pid}/cmdline").read_text()


def test_postgres_keeps_its_password_between_runs(data_dir: Path, postgres: Service) -> None:
    first = postgres.url
    postgres.stop()
    again = devservices.start_postgres(data_dir / "postgres")
    try:
        assert again.url.split("@")[0] == first.split("@")[0]
        assert devservices.postgres_answers(again.url)
    finally:
        again.stop()


def test_a_cluster_that_trusted_everyone_is_given_a_password(
    data_dir: Path, postgres: Service
) -> None:
    # What an older make run left: a cluster trusting every local connection, no password.
    (postgres.home / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
    (data_dir / "postgres.password").unlink()
    postgres.stop()
    again = devservices.start_postgres(data_dir / "postgres")
    try:
        assert devservices.postgres_answers(again.url)
        assert refused(without_password(again.url))
        check_private(data_dir / "postgres.password")
    finally:
        again.stop()


def test_redis_asks_for_its_password(data_dir: Path) -> None:
    service = devservices.start_redis(data_dir / "redis")
    try:
        assert devservices.redis_answers(service.url)
        port = service.url.rsplit(":", 1)[1].split("/")[0]
        anonymous = redis.Redis(host="127.0.0.1", port=int(port), socket_timeout=5)
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        anonymous.close()
        kept = data_dir / "redis.password"
        check_private(kept)
        assert kept.read_text().strip() in service.url
        assert kept.read_text().strip() not in Path(f"/proc/{service.pid}/cmdline").read_text()
    finally:
        service.stop()


def test_urls_are_shown_without_their_password(data_dir: Path, postgres: Service) -> None:
    password = (data_dir / "postgres.password").read_text().strip()
    shown = passwords.redacted(postgres.url)
    assert password not in shown
    assert shown.startswith("postgresql://postgres:***@127.0.0.1:")
