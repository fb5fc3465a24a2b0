"""The bench's drain comparison at a tiny size, so the benchmark code cannot rot."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg

from bench import db, drain, payloads, report, reports, verify
from tests.support.sms_facts import STALE_SMS_DAYS, STALE_SMS_FACTS


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


def test_the_report_prints_every_figure_with_its_baseline_ratio_and_verdict() -> None:
    app = {
        "rps": 1000.0,
        "p50_ms": 5.0,
        "p99_ms": 40.0,
        "rss_mb": 250.0,
        "cpu_us": {"web": 900, "postgres": 200, "wrk": 100},
        "rounds_rps": [990, 1000, 1010],
    }
    drained = {
        "per_s": 12000.0,
        "same_as_one_by_one": True,
        "sample_users": 50,
        "worker_rss_mb": 230.0,
        "rounds_per_s": [11000, 12000, 13000],
    }
    results = {
        "sizes": {"scale_phones": 1_000_000},
        "ingest": {"hello": {**app, "rps": 5000.0}, "naive": {**app, "rps": 1500.0},
                   "endpoint": app},
        "drain": {**drained, "noop": {"per_s": 900.0}},
        "scale": {**drained, "per_s": 9000.0},
        "latency": {"applied_p50_ms": 6.0, "applied_p99_ms": 120.0, "client_p50_ms": 3.0,
                    "client_p99_ms": 10.0,
                    "rss_mb": {"web": {"first": 260, "last": 261},
                               "worker": {"first": 190, "last": 191}}},
        "backfill": {"users_per_s": 2000.0},
    }  # fmt: skip
    lines = {line.split("|")[0].strip(): line for line in report.table(results).splitlines()}

    def cells(name: str) -> list[str]:
        return [cell.strip() for cell in lines[name].split("|")]

    assert cells("ingest req/s vs hello-world")[1:] == ["1,000", "5,000", "0.20x", ">= 0.5x", "NO"]
    assert cells("ingest req/s vs naive verify+upsert")[3] == "0.67x"
    assert cells("drain events/s vs no-op tasks/s")[3:] == ["13.3x", ">= 5,000/s, >= 4x", "yes"]
    assert cells("drain events/s, 1,000,000 phones in mirror")[3:] == ["0.75x", ">= 0.8x", "NO"]
    assert cells("2xx -> applied p99 ms (inbox)")[-1] == "NO"
    assert cells("drain events/s of each round")[1] == "11000 12000 13000"
    assert cells("backfill users/s")[1] == "2,000"


def test_bench_reports_time_every_report_on_a_generated_mirror_with_its_indexes_intact(
    services: dict[str, str],
) -> None:
    url = db.create(services["postgres"])
    definitions = "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
    try:
        with psycopg.connect(url) as conn:
            before = sorted(conn.execute(definitions).fetchall())
        result = reports.run(url, 100)
        with psycopg.connect(url) as conn:
            after = sorted(conn.execute(definitions).fetchall())
        assert after == before, "the load rebuilt every index and key as the migrations made it"
        assert result["rows"] == {
            "users": 100, "phone_numbers": 200, "phone_number_history": 1000, "user_history": 219,
            "sms_messages": 266, "sms_prefix_days": 115,
        }  # fmt: skip
        with psycopg.connect(url) as conn:
            # The load fills the SMS ledger's kept facts by their definition.
            assert conn.execute(STALE_SMS_FACTS).fetchall() == []
            assert conn.execute(STALE_SMS_DAYS).fetchall() == []
            assert conn.execute(
                "SELECT count(*) FILTER (WHERE number_verified) FROM clerk.sms_messages"
            ).fetchone() != (0,)
        assert set(result["reports"]) == {name for name, _, _ in reports.QUERIES}
        assert all(r["ms"] > 0 and r["scan_ms"] > 0 for r in result["reports"].values())
        printed = report.table({"sizes": {}, "reports": result})
        assert "report two_factor_adoption ms" in printed
        assert "report sms_pumping ms vs scan of sms_messages" in printed
    finally:
        db.drop(url, services["postgres"])
