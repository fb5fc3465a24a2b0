"""report_shared_phone_numbers: numbers several live users hold, or one taken after a deletion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient

from tests.support.crafted import apply, deletion, moment, ms, phone, snapshot
from tests.support.signing import TEST_SECRET, sign
from tests.worker.mirror import helpers
from tests.worker.mirror.helpers import drain
from webhooks import create_app
from worker.privacy import erase, pii

KEY = "shared-numbers-test-key-0123456789"
SHARED, REHELD, ALONE, BEFORE, REMOVED, ERASED = (
    "+447700900201", "+447700900202", "+33612340003", "+12025550104", "+12025550105",
    "+12025550106",
)  # fmt: skip
REPORT = "SELECT * FROM clerk.report_shared_phone_numbers"


def held(user_id: str, number: str, day: int, *, at_day: int | None = None) -> dict[str, Any]:
    """A snapshot of user_id holding number since `day` (January 2025)."""
    entry = phone(f"idn_{user_id}", number)
    entry["created_at"] = ms(moment(day))
    return snapshot(user_id, moment(at_day or day, 1), [entry])


def story() -> list[dict[str, Any]]:
    return [
        held("user_a", SHARED, 1),
        held("user_b", SHARED, 2),
        held("user_c", REHELD, 1),
        deletion("user_c", moment(3)),
        held("user_d", REHELD, 5),
        held("user_e", ALONE, 1),
        held("user_f", BEFORE, 1),
        held("user_g", BEFORE, 2),
        deletion("user_g", moment(4)),
        held("user_h", REMOVED, 1),
        snapshot("user_h", moment(3), []),
        held("user_i", REMOVED, 4),
        held("user_j", ERASED, 1),
        held("user_k", ERASED, 1),
    ]


@pytest.fixture(autouse=True)
def pii_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helpers, "PII_KEY", KEY.encode())


@pytest.fixture
def client(database_url: str, redis_url: str, queue_name: str) -> Iterator[FlaskClient]:
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
            "CLERK_MIRROR_QUEUE": queue_name,
        }
    )
    yield app.test_client()
    app.extensions["clerk_mirror"].close()


def test_shared_and_reheld_numbers_are_listed_by_hash_and_mask_never_the_number(
    client: FlaskClient, database_url: str
) -> None:
    for i, body in enumerate(story()):
        raw = json.dumps(body).encode()
        assert (
            client.post("/webhooks/clerk", data=raw, headers=sign(raw, f"msg_{i}")).status_code
            == 200
        )
    with psycopg.connect(database_url) as conn:
        drain(conn)
        erase.erase_users(conn, ["user_j"])
        rows = conn.execute(REPORT).fetchall()
        assert conn.execute(
            "SELECT count(*) FROM clerk.webhook_events WHERE status <> 'processed'"
        ).fetchone() == (0,)
    key = KEY.encode()
    assert rows == [
        (pii.phone_hash(key, SHARED), "+44 ••••••••01", "GB", 2, 0, 0, ["user_a", "user_b"]),
        (pii.phone_hash(key, REHELD), "+44 ••••••••02", "GB", 1, 1, 1, ["user_c", "user_d"]),
    ]


def test_shared_numbers_are_found_even_for_rows_written_without_a_key(
    conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helpers, "PII_KEY", None)
    apply(conn, held("user_a", SHARED, 1), held("user_b", SHARED, 2))
    assert conn.execute(REPORT).fetchall() == [
        (None, "+44 ••••••••01", "GB", 2, 0, 0, ["user_a", "user_b"])
    ]


def test_an_empty_mirror_gives_no_rows(conn: psycopg.Connection) -> None:
    assert conn.execute(REPORT).fetchall() == []
