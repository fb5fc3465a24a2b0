"""GET /metrics: webhook outcomes, worker apply counters and the inbox lag, in Prometheus text."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.bodies import fixture_body
from tests.support.settings import hand_tasks
from tests.support.signing import sign
from worker import db, tasks

URL = "/webhooks/clerk"


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def webhooks(snapshot: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
    """Webhook counts as 'event_type/outcome' (the session shares one metrics directory)."""
    out = {}
    for (name, labels), value in snapshot.items():
        if name == "clerk_mirror_webhooks_received_total":
            label = dict(labels)
            out[f"{label['event_type']}/{label['outcome']}"] = value
    return out


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def post(client: FlaskClient, name: str, svix_id: str) -> int:
    body = json.dumps(fixture_body(name)).encode()
    return client.post(URL, data=body, headers=sign(body, svix_id)).status_code


def test_each_webhook_outcome_is_counted_by_type(client: FlaskClient) -> None:
    before = webhooks(scrape(client))
    assert post(client, "user.created__unverified_phone", "a1") == 200
    assert post(client, "user.created__unverified_phone", "a1") == 200
    assert post(client, "session.created__ignored", "s1") == 200
    forged = sign(b"{}", "x", secret="whsec_" + "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==")
    assert client.post(URL, data=b"{}", headers=forged).status_code == 401
    assert client.post(URL, data=b"not json", headers=sign(b"not json", "n1")).status_code == 400
    assert client.post(URL, data=b"{}").status_code == 400
    big = b"x" * (1024 * 1024 + 1)
    assert client.post(URL, data=big, headers=sign(big, "big")).status_code == 413
    assert delta(before, webhooks(scrape(client))) == {
        "user.created/accepted": 1,
        "user.created/duplicate": 1,
        "session.created/ignored": 1,
        "unknown/rejected_401": 1,
        "unknown/rejected_400": 2,
        "unknown/rejected_413": 1,
    }


def test_database_down_is_counted_as_unavailable_and_metrics_still_answer(
    down_app: Flask,
) -> None:
    client = down_app.test_client()
    before = webhooks(scrape(client))
    assert post(client, "user.deleted", "d1") == 503
    after = scrape(client)
    assert delta(before, webhooks(after)) == {"user.deleted/unavailable_503": 1}
    assert after[("clerk_mirror_inbox_up", ())] == 0
    assert ("clerk_mirror_inbox_pending", ()) not in after


def test_inbox_gauges_show_pending_count_and_oldest_age(
    client: FlaskClient, database_url: str
) -> None:
    empty = scrape(client)
    assert empty[("clerk_mirror_inbox_pending", ())] == 0
    assert empty[("clerk_mirror_inbox_oldest_pending_age_seconds", ())] == 0
    assert post(client, "user.created__unverified_phone", "p1") == 200
    assert post(client, "user.updated__phone_verified", "p2") == 200
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE clerk.webhook_events SET received_at = now() - interval '90 seconds'"
            " WHERE svix_id = 'p1'"
        )
    lagging = scrape(client)
    assert lagging[("clerk_mirror_inbox_up", ())] == 1
    assert lagging[("clerk_mirror_inbox_pending", ())] == 2
    assert 90 <= lagging[("clerk_mirror_inbox_oldest_pending_age_seconds", ())] < 120


def test_worker_apply_counts_and_duration_appear_at_the_web_metrics(
    client: FlaskClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert post(client, "user.created__unverified_phone", "w1") == 200
    assert post(client, "user.updated__phone_verified", "w2") == 200
    broken = fixture_body("user.updated__2fa_enabled")
    broken["data"]["phone_numbers"] = "not a list"
    body = json.dumps(broken).encode()
    assert client.post(URL, data=body, headers=sign(body, "w3")).status_code == 200
    before = scrape(client)
    hand_tasks(monkeypatch, DATABASE_URL=database_url)
    db.close_pool()
    try:
        assert tasks.apply_batch().claimed == 3
    finally:
        db.close_pool()
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0)

    assert grew("clerk_mirror_events_applied_total", outcome="processed") == 2
    assert grew("clerk_mirror_events_applied_total", outcome="failed") == 1
    assert grew("clerk_mirror_apply_duration_seconds_count") == 1
    assert grew("clerk_mirror_apply_duration_seconds_sum") > 0
    assert after[("clerk_mirror_inbox_pending", ())] == 0


def test_a_metrics_file_left_half_written_by_a_killed_process_does_not_break_scrapes(
    client: FlaskClient,
) -> None:
    from worker import metrics

    broken = metrics.directory() / "counter_999999999.db"
    broken.write_bytes(b"\x01")
    try:
        before = webhooks(scrape(client))
        assert post(client, "user.created__unverified_phone", "k1") == 200
        after = webhooks(scrape(client))
    finally:
        broken.unlink()
    assert delta(before, after) == {"user.created/accepted": 1}


def test_dead_events_readiness_and_the_last_backfill_are_gauges(
    client: FlaskClient, database_url: str
) -> None:
    before = scrape(client)
    assert before[("clerk_mirror_inbox_events", (("status", "dead"),))] == 0
    assert before[("clerk_mirror_backfill_last_run", (("status", "failed"),))] == 0
    assert ("clerk_mirror_backfill_last_run_timestamp_seconds", ()) not in before
    assert post(client, "user.created__unverified_phone", "x1") == 200
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE clerk.webhook_events SET status = 'dead' WHERE svix_id = 'x1'")
        conn.execute("INSERT INTO clerk.sync_runs (status, finished_at) VALUES ('failed', now())")
    after = scrape(client)
    assert after[("clerk_mirror_inbox_events", (("status", "dead"),))] == 1
    assert after[("clerk_mirror_inbox_events", (("status", "failed"),))] == 0
    assert after[("clerk_mirror_backfill_last_run", (("status", "failed"),))] == 1
    assert after[("clerk_mirror_backfill_last_run", (("status", "succeeded"),))] == 0
    assert after[("clerk_mirror_backfill_last_run_timestamp_seconds", ())] > 0
    assert after[("clerk_mirror_dependency_up", (("dependency", "postgres"),))] == 1
    assert after[("clerk_mirror_dependency_up", (("dependency", "redis"),))] == 1


def test_readiness_gauge_says_postgres_is_down(down_app: Flask) -> None:
    after = scrape(down_app.test_client())
    assert after[("clerk_mirror_dependency_up", (("dependency", "postgres"),))] == 0
    assert after[("clerk_mirror_dependency_up", (("dependency", "redis"),))] == 1


def post_body(client: FlaskClient, body: dict[str, object], svix_id: str) -> int:
    raw = json.dumps(body).encode()
    return client.post(URL, data=raw, headers=sign(raw, svix_id)).status_code


def test_codes_sent_are_counted_by_region_and_the_last_hour_is_a_gauge_by_region(
    client: FlaskClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = int(time.time() * 1000)
    # Ada's US number, verified (by the story's first two events), sent two codes now; a
    # Guernsey number, one code; a duplicate delivery counts once.
    assert post(client, "user.created__unverified_phone", "m1") == 200
    assert post(client, "user.updated__phone_verified", "m2") == 200
    us = fixture_body("sms.created__verification_code")
    us["data"].update(to_phone_number="+12025550143", phone_number_id="idn_2pPhoneAdaUS00000000001")
    for i in range(2):
        us["data"].update(id=f"sms_us_{i}", created_at_ms=now - i)
        assert post_body(client, us, f"m_us_{i}") == 200
    guernsey = fixture_body("sms.created__sign_up_no_user")
    guernsey["timestamp"] = now
    for _ in range(2):
        assert post_body(client, guernsey, "m_gg") == 200
    before = scrape(client)
    hand_tasks(monkeypatch, DATABASE_URL=database_url)
    db.close_pool()
    try:
        assert tasks.apply_batch().claimed == 5
    finally:
        db.close_pool()
    after = scrape(client)

    def grew(region: str) -> float:
        key = ("clerk_mirror_sms_sent_total", (("region", region),))
        return after.get(key, 0) - before.get(key, 0)

    assert (grew("US"), grew("GG"), grew("GB")) == (2, 1, 0)
    hour = {
        (name, dict(labels)["region"]): value
        for (name, labels), value in after.items()
        if name.startswith("clerk_mirror_sms_numbers_")
    }
    assert hour == {
        ("clerk_mirror_sms_numbers_sent_last_hour", "US"): 1,
        ("clerk_mirror_sms_numbers_verified_last_hour", "US"): 1,
        ("clerk_mirror_sms_numbers_sent_last_hour", "GG"): 1,
        ("clerk_mirror_sms_numbers_verified_last_hour", "GG"): 0,
    }
