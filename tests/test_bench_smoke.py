"""The bench's drain comparison at a tiny size, so the benchmark code cannot rot."""

from __future__ import annotations

import uuid
from pathlib import Path

from bench import db, drain, payloads, verify


def test_bench_drain_through_a_real_worker_equals_one_by_one_application(
    services: dict[str, str], redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    server = services["postgres"]
    events = payloads.with_duplicates(payloads.user_history(uuid.uuid4().hex[:6], 20, 10), 0.05)
    users = verify.sample_users(events, 20)
    fast_url, ref_url = db.create(server), db.create(server)
    try:
        env = {
            "DATABASE_URL": fast_url,
            "REDIS_URL": redis_url,
            "CLERK_WEBHOOK_SIGNING_SECRET": payloads.BENCH_SECRET,
            "CLERK_MIRROR_QUEUE": queue_name,
        }
        result = drain.drain_events(env, tmp_path, events)
        verify.apply_one_by_one(ref_url, events)

        assert result["events"] == 200
        fast, reference = verify.mirror_rows(fast_url, users), verify.mirror_rows(ref_url, users)
        assert fast["history"], "the drain wrote no history at all"
        assert fast == reference
    finally:
        db.drop(fast_url, server)
        db.drop(ref_url, server)
