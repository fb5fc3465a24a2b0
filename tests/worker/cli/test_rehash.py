"""clerk-mirror rehash: rows written before the key was set get their hash."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from tests.support.bodies import STORY
from tests.worker.mirror.helpers import deliver
from worker.cli.main import main
from worker.privacy import pii, rehash

KEY = "rehash-test-key-0123456789abcdef0123"


def hashes(url: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT phone_number, phone_number_hash FROM clerk.phone_numbers"
            " UNION ALL SELECT phone_number, phone_number_hash FROM clerk.phone_number_history"
            " ORDER BY 1, 2"
        ).fetchall()


def test_rehash_fills_every_hash_the_worker_wrote_without_a_key_and_then_has_nothing_to_do(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rehash, "CHUNK", 2)  # several chunks per table
    monkeypatch.setenv("DATABASE_URL", database_url)
    with psycopg.connect(database_url) as conn:
        deliver(conn, [(name, f"msg_{i}") for i, name in enumerate(STORY[:5])])
    rows = hashes(database_url)
    assert {h for _, h in rows} == {None}
    refused = CliRunner().invoke(main, ["rehash"])
    assert refused.exit_code == 2
    assert "CLERK_MIRROR_PII_KEY is not set" in refused.output
    monkeypatch.setenv("CLERK_MIRROR_PII_KEY", KEY)
    done = CliRunner().invoke(main, ["rehash"])
    assert done.output == f"hashed {len(rows)} rows\n"
    assert hashes(database_url) == [(n, pii.phone_hash(KEY.encode(), n)) for n, _ in rows]
    assert CliRunner().invoke(main, ["rehash"]).output == "hashed 0 rows\n"
    monkeypatch.setenv("CLERK_MIRROR_PII_KEY", KEY + "-rotated")
    assert CliRunner().invoke(main, ["rehash", "--all"]).output == f"hashed {len(rows)} rows\n"
