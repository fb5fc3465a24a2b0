"""The bench's drain comparison at a tiny size, so the benchmark code cannot rot."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg

from bench import busy_number, db, drain, inbox, inbox_data, payloads, report, reports, verify
from tests.support.phone_number_counts import STALE_NUMBER_COUNTS, STALE_SHARING
from tests.support.sms_facts import STALE_SMS_DAYS, STALE_SMS_FACTS
from worker.inbox import ops


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

        raw = drain.raw_write(fast_url)
        with psycopg.connect(fast_url) as conn:
            mirror = sum(
                conn.execute(f"SELECT count(*) FROM clerk.{table}").fetchone()[0]  # type: ignore[index]  # noqa: S608
                for table in drain.RAW_TABLES
            )
            left = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'raw'")
            assert left.fetchone() == (0,), "the clones are dropped after"
        assert raw["rows"] == mirror + 200, "every row of the mirror and every event, once"
        assert raw["seconds"] > 0
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
        "backfill": {"users": 5000, "users_per_s": 2000.0, "drain_per_s": 8000.0,
                     "cpu_us_per_user": {"backfill": 90, "classifier": 40, "fake_api": 5,
                                         "postgres": 200},
                     "cores_busy": 1.46},
        "sweep": {"p99_limit_ms": 100.0, "highest_rate": 400, "rates": {
            "400": {"applied_p50_ms": 8.0, "applied_p99_ms": 60.0,
                    "warmup": {"seconds": 2, "applied_p50_ms": 30.0, "applied_p99_ms": 250.0}},
            "800": {"applied_p50_ms": 30.0, "applied_p99_ms": 150.0, "warmup": {"seconds": 0}},
        }},
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
    assert cells("backfill users/s (5,000) vs drain events/s")[1:] == [
        "2,000", "8,000", "0.25x", ">= 0.8x", "NO"
    ]  # fmt: skip
    # A step's first seconds on new processes are shown apart, and judge nothing.
    assert cells("paced 400 ev/s: 2xx -> applied p50 / p99 ms")[1:] == [
        "8.0 / 60.0", "", "", "p99 < 100 ms", "yes"
    ]  # fmt: skip
    assert cells("its first 2 s on new processes (not counted)")[1:] == [
        "30.0 / 250.0", "", "", "", ""
    ]  # fmt: skip
    assert cells("paced 800 ev/s: 2xx -> applied p50 / p99 ms")[-1] == "NO"
    assert cells("highest paced rate with p99 < 100 ms (its p50 ms)")[1:] == [
        "400 (8.0)", "", "", ">= 695, p50 < 20", "NO"
    ]  # fmt: skip
    assert cells("backfill users/s vs 2026-12-02's best")[1:] == [
        "2,000", "1,340", "1.49x", ">= 5x", "NO"
    ]  # fmt: skip
    assert cells("backfill CPU µs/user: run + classifier + Postgres + fake API; cores")[1:] == [
        "90 + 40 + 200 + 5", "", "1.46", "", ""
    ]  # fmt: skip


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
            "sms_messages": 266, "sms_prefix_days": 115, "sms_region_days": 115,
        }  # fmt: skip
        with psycopg.connect(url) as conn:
            # The load fills the SMS ledger's kept facts by their definition.
            assert conn.execute(STALE_SMS_FACTS).fetchall() == []
            assert conn.execute(STALE_SMS_DAYS).fetchall() == []
            assert conn.execute(
                "SELECT count(*) FILTER (WHERE number_verified) FROM clerk.sms_messages"
            ).fetchone() != (0,)
            # ...and the numbers' counts, which the shared-numbers report reads.
            assert conn.execute(STALE_NUMBER_COUNTS).fetchall() == []
            assert conn.execute(
                "SELECT count(*) FROM clerk.phone_number_counts WHERE phones > 1"
            ).fetchone() != (0,)
            # ...and the shared numbers' rows, which it reads now.
            assert conn.execute(STALE_SHARING).fetchall() == []
            kept = conn.execute("SELECT count(*) FROM clerk.phone_number_sharing").fetchone()
            assert kept != (0,)
        assert set(result["reports"]) == {name for name, _, _ in reports.QUERIES}
        assert all(r["ms"] > 0 and r["scan_ms"] > 0 for r in result["reports"].values())
        printed = report.table({"sizes": {}, "reports": result})
        assert "report two_factor_adoption ms" in printed
        assert "report sms_pumping ms vs scan of sms_messages" in printed
    finally:
        db.drop(url, services["postgres"])


def test_bench_busy_number_times_each_step_on_both_numbers_and_keeps_the_rows(
    services: dict[str, str],
) -> None:
    url = db.create(services["postgres"])
    try:
        # measure() checks the busy number's row after its steps; the rest, here.
        result = busy_number.measure(url, 30, 3)
        steps = ("join", "first_two_deletions", "delete", "join_after_deletions")
        assert all(result[step]["busy_ms"] > 0 and result[step]["ratio"] > 0 for step in steps)
        with psycopg.connect(url) as conn:
            assert conn.execute(STALE_SHARING).fetchall() == []
    finally:
        db.drop(url, services["postgres"])


PAYLOAD_AGES = """
SELECT count(*) FILTER (WHERE payload IS NOT NULL AND status IN ('processed', 'ignored')
                          AND processed_at < now() - interval '30 days'),
       count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'dead'),
       count(*)
FROM clerk.webhook_events
"""


def test_bench_inbox_times_every_read_and_purges_a_generated_year_in_batches(
    services: dict[str, str], redis_url: str
) -> None:
    url = db.create(services["postgres"])
    try:
        inbox_data.generate(url, 3000)
        with psycopg.connect(url) as conn:
            purgeable, failed, dead, rows = conn.execute(PAYLOAD_AGES).fetchone() or ()
        assert (failed, dead, rows) == (inbox_data.FAILED, inbox_data.DEAD, 3000)
        # 30 of the 365 days hold payloads that a 30-day purge drops.
        assert 200 < purgeable < 300

        reads = inbox.reads(url, redis_url)
        assert len(reads) == 12
        assert all(ms > 0 for ms in reads.values())
        job = inbox.Background(url, lambda c: ops.purge_batch(c, inbox.PURGE_AGE))
        job.start()
        job.join()
        assert job.rows == purgeable
    finally:
        db.drop(url, services["postgres"])

    paced = {"sent": 100, "non_2xx": 0, "applied": 100, "applied_p50_ms": 20.0,
             "applied_p99_ms": 50.0}  # fmt: skip
    drained = {"per_s": 1000.0, "job_rows": 5, "job_s": 1.0, "job_longest_batch_s": 0.1,
               "job_outlasted_drain": True, "job_outlasted_paced": True, "job_yielded_s": 3.0,
               "latency": paced}  # fmt: skip
    results = {"inbox": {
        "base": {"rows": 10_000, "reads_ms": {"console overview": 10.0}},
        "large": {"rows": 10_000_000, "reads_ms": {"console overview": 60.0},
                  "retention": {"alone": drained, "alone_again": drained,
                                "purge": {**drained, "per_s": 900.0,
                                          "latency": {**paced, "applied_p99_ms": 75.0}},
                                "remove": {**drained, "per_s": 700.0}}},
    }}  # fmt: skip
    rows = {
        cells[0]: cells[1:]
        for cells in (
            [c.strip() for c in line.split("|")] for line in report.table(results).splitlines()
        )
    }
    assert rows["inbox 10,000,000 rows: console overview ms"] == [
        "60.0", "10.0 (10,000 rows)", "6.0x", "<= 5x, < 200 ms", "NO"
    ]  # fmt: skip
    assert rows["drain events/s during purge 30 days of payloads"][2:] == [
        "0.90x",
        ">= 0.8x",
        "yes",
    ]
    assert rows["drain events/s during remove 30 days of rows"][2:] == ["0.70x", ">= 0.8x", "NO"]
    assert rows["purge 30 days of payloads: 2xx -> applied p99 ms"][:3] == ["75.0", "50.0", "1.50x"]
    assert rows["purge 30 days of payloads: s waiting for the worker"][0] == "3.0"
