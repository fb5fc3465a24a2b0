"""The app under test: real Postgres and Redis, and two signing secrets as in a rotation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.signing import OTHER_SECRET, TEST_SECRET
from webhooks import create_app


@pytest.fixture
def app(database_url: str, redis_url: str, queue_name: str) -> Iterator[Flask]:
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CLERK_WEBHOOK_SIGNING_SECRET": f"{OTHER_SECRET} {TEST_SECRET}",
            "CLERK_MIRROR_QUEUE": queue_name,
        }
    )
    # The pool connects in a background thread that draws jitter from `random`; hypothesis
    # takes that for a strategy using `random`, so let it finish before drawing.
    app.extensions["clerk_mirror"].pool.wait()
    yield app
    app.extensions["clerk_mirror"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def down_app(redis_url: str, queue_name: str) -> Iterator[Flask]:
    """The app with a DATABASE_URL where nothing listens: Postgres is down."""
    app = create_app(
        {
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none?connect_timeout=1",
            "REDIS_URL": redis_url,
            "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
            "CLERK_MIRROR_QUEUE": queue_name,
            "POOL_TIMEOUT": 0.5,
        }
    )
    yield app
    app.extensions["clerk_mirror"].close()
