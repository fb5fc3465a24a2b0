"""Fixtures: databases built by the real migrations, per test or shared, and connections."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.support.databases import DEFAULT, FAR, create_database, drop_database, with_dbname
from worker import db, migrate


def _migrated(services: dict[str, str], *, far: bool) -> Iterator[str]:
    name = create_database(services["postgres"], far=far)
    try:
        migrate.migrate(with_dbname(services["postgres"], name))
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
    yield with_dbname(services["postgres"], name)
    drop_database(services["postgres"], name)


def _shared(services: dict[str, str], template: str, *, far: bool) -> Iterator[str]:
    name = create_database(services["postgres"], template=template, far=far)
    yield with_dbname(services["postgres"], name)
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
def worker_pool(database_url: str) -> Iterator[str]:
    """The worker's own pool, on this test's database, as a worker process opens it."""
    db.open_pool(database_url)
    try:
        yield database_url
    finally:
        db.close_pool()
