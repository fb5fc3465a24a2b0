"""Fixtures: real Postgres and Redis (the named ones, the local ones, or ones started here)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.support import environment
from worker.dev import services as devservices
from worker.dev.services import Service

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


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

    DATABASE_URL and REDIS_URL name servers (support.environment took them out of the
    environment before anything read it). CLERK_MIRROR_TEST_SERVICES=throwaway skips the
    local defaults, to test as on a machine where nothing runs.
    """
    pg_url, pg = _server(
        environment.SERVERS["postgres"],
        DEFAULT_PG,
        devservices.postgres_answers,
        lambda: devservices.start_postgres(tmp_path_factory.mktemp("pg")),
    )
    redis_url, rd = _server(
        environment.SERVERS["redis"],
        DEFAULT_REDIS,
        devservices.redis_answers,
        lambda: devservices.start_redis(tmp_path_factory.mktemp("redis")),
    )
    yield {"postgres": pg_url, "redis": redis_url}
    for service in (pg, rd):
        if service is not None:
            service.stop()


@pytest.fixture
def redis_url(services: dict[str, str]) -> str:
    return services["redis"]


@pytest.fixture
def queue_name() -> str:
    """A Celery queue of this test's own, so parallel runs never steal each other's tasks."""
    return f"cpm_test_{uuid.uuid4().hex[:12]}"
