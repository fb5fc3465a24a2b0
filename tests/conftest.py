"""Test harness: real Postgres and Redis (started here when none answers), signed fixtures."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from svix.webhooks import Webhook

from worker import db, migrate
from worker.dev import services as devservices
from worker.dev.services import Service

# A developer's shell must not leak into the tests: every test names what it uses.
_PROJECT_VARS = (
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
SERVER_DATABASE_URL = os.environ.pop("DATABASE_URL", "")
SERVER_REDIS_URL = os.environ.pop("REDIS_URL", "")
for _name in _PROJECT_VARS:
    os.environ.pop(_name, None)
# This session's metrics (and its web and worker subprocesses') in a directory of its
# own, set before anything imports worker.metrics.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cpm-test-metrics-")

FIXTURES = Path(__file__).parent / "fixtures"
TEST_SECRET = "whsec_" + "dGVzdC1zZWNyZXQtZm9yLWNsZXJrLW1pcnJvcg=="
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"

STORY = (
    "user.created__unverified_phone",
    "user.updated__phone_verified",
    "user.updated__2fa_enabled",
    "user.updated__second_phone_expired",
    "user.updated__phone_removed",
    "user.deleted",
)


def fixture_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "clerk" / f"{name}.json").read_text())
    return body


def sign(
    body: bytes, msg_id: str, *, secret: str = TEST_SECRET, at: datetime | None = None
) -> dict[str, str]:
    """Real svix headers for a body, as Clerk's sender would produce them."""
    at = at or datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(int(at.timestamp())),
        "svix-signature": signature,
        "content-type": "application/json",
    }


def _server(
    named: str, default: str, answers: Callable[[str], bool], start: Callable[[], Service]
) -> tuple[str, Service | None]:
    """The named server (which must answer), else the local default, else one we start."""
    if named:
        if not answers(named):
            pytest.exit(f"{named!r} does not answer: start it, or unset the variable", 2)
        return named, None
    if os.environ.get("CLERK_MIRROR_TEST_SERVICES") != "throwaway" and answers(default):
        return default, None
    service = start()
    return service.url, service


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Server-level URLs of Postgres and Redis: the named ones, the local ones, or our own.

    CLERK_MIRROR_TEST_SERVICES=throwaway skips the local defaults, to test as on a machine
    where nothing runs.
    """
    pg_url, pg = _server(
        SERVER_DATABASE_URL,
        DEFAULT_PG,
        devservices.postgres_answers,
        lambda: devservices.start_postgres(tmp_path_factory.mktemp("pg")),
    )
    redis_url, rd = _server(
        SERVER_REDIS_URL,
        DEFAULT_REDIS,
        devservices.redis_answers,
        lambda: devservices.start_redis(tmp_path_factory.mktemp("redis")),
    )
    yield {"postgres": pg_url, "redis": redis_url}
    for service in (pg, rd):
        if service is not None:
            service.stop()


def _with_dbname(url: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)


# The databases a test can run on: the server's default, and one whose collation and
# TimeZone are as far from C and UTC as a deployment's may be. Tests that order or read
# times run on both (every_database); the far one is built only when one asks for it.
DEFAULT, FAR = "server_default", "icu_kiritimati"
FAR_ZONE = "Pacific/Kiritimati"
_FAR_LOCALE = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"


def create_database(server_url: str, template: str | None = None, *, far: bool = False) -> str:
    """A new database (empty, or a copy of template); far: ICU-collated, in FAR_ZONE."""
    name = f"cpm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        # Generated names and constants only: nothing here comes from input.
        if template:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        elif far:
            conn.execute(f'CREATE DATABASE "{name}" {_FAR_LOCALE}')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')
        if far:
            # A copy takes its template's collation but not its settings: set the zone.
            conn.execute(f"ALTER DATABASE \"{name}\" SET timezone = '{FAR_ZONE}'")
    return name


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def every_database(metafunc: pytest.Metafunc) -> None:
    """Run the test once per database flavor (for a pytest_generate_tests hook)."""
    if "db_flavor" in metafunc.fixturenames:
        metafunc.parametrize("db_flavor", [DEFAULT, FAR], indirect=True)


def _migrated(services: dict[str, str], *, far: bool) -> Iterator[str]:
    name = create_database(services["postgres"], far=far)
    try:
        migrate.migrate(_with_dbname(services["postgres"], name))
        yield name
    finally:
        drop_database(services["postgres"], name)


@pytest.fixture(scope="session")
def template_db(services: dict[str, str]) -> Iterator[str]:
    """A database built by the real migrations, cloned by tests that commit."""
    yield from _migrated(services, far=False)


@pytest.fixture(scope="session")
def far_template_db(services: dict[str, str]) -> Iterator[str]:
    """The same, ICU-collated (en-US) and in FAR_ZONE."""
    yield from _migrated(services, far=True)


@pytest.fixture
def db_flavor(request: pytest.FixtureRequest) -> str:
    """DEFAULT, unless every_database runs the test on each flavor."""
    return str(getattr(request, "param", DEFAULT))


@pytest.fixture
def database_url(
    services: dict[str, str], db_flavor: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh migrated database of this test's own, dropped afterwards."""
    far = db_flavor == FAR
    template = request.getfixturevalue("far_template_db" if far else "template_db")
    name = create_database(services["postgres"], template=template, far=far)
    yield _with_dbname(services["postgres"], name)
    drop_database(services["postgres"], name)


def _shared(services: dict[str, str], template: str, *, far: bool) -> Iterator[str]:
    name = create_database(services["postgres"], template=template, far=far)
    yield _with_dbname(services["postgres"], name)
    drop_database(services["postgres"], name)


@pytest.fixture(scope="session")
def default_shared_db_url(services: dict[str, str], template_db: str) -> Iterator[str]:
    yield from _shared(services, template_db, far=False)


@pytest.fixture(scope="session")
def far_shared_db_url(services: dict[str, str], far_template_db: str) -> Iterator[str]:
    yield from _shared(services, far_template_db, far=True)


@pytest.fixture
def shared_db_url(db_flavor: str, request: pytest.FixtureRequest) -> str:
    """A migrated database shared by the session's tests that roll back."""
    name = "far_shared_db_url" if db_flavor == FAR else "default_shared_db_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def conn(shared_db_url: str) -> Iterator[psycopg.Connection]:
    """A connection inside a transaction that is rolled back after the test.

    Opened as an analyst's client would be, in the database's own TimeZone: the mirror's
    logic and the reports must not depend on the session being UTC.
    """
    with (
        psycopg.connect(shared_db_url) as connection,
        connection.transaction(force_rollback=True),
    ):
        yield connection


@pytest.fixture
def redis_url(services: dict[str, str]) -> str:
    return services["redis"]


@pytest.fixture
def queue_name() -> str:
    """A Celery queue of this test's own, so parallel runs never steal each other's tasks."""
    return f"cpm_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def worker_pool(database_url: str) -> Iterator[str]:
    """The worker's own pool, on this test's database, as a worker process opens it."""
    db.open_pool(database_url)
    try:
        yield database_url
    finally:
        db.close_pool()
