"""A worker host's own /metrics (CLERK_MIRROR_METRICS_PORT): its files, scraped on their own."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.bodies import STORY, fixture_body
from tests.support.processes import free_port, running, wait_for, web_argv, web_ready, worker_argv
from tests.support.signing import TEST_SECRET, sign
from worker import config


def sample(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples that carry these labels (0 when none was counted)."""
    return sum(
        float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def scrape(url: str) -> str | None:
    try:
        answer = httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None
    return answer.text if answer.status_code == 200 else None


@pytest.mark.parametrize(("raw", "port"), [(None, None), ("", None), ("9808", 9808)])
def test_the_metrics_port_is_off_unless_set(raw: str | None, port: int | None) -> None:
    env = {} if raw is None else {"CLERK_MIRROR_METRICS_PORT": raw}
    assert config.from_env(env).metrics_port == port


def test_a_malformed_metrics_port_names_the_variable() -> None:
    with pytest.raises(config.ConfigError, match="CLERK_MIRROR_METRICS_PORT"):
        config.from_env({"CLERK_MIRROR_METRICS_PORT": "ninety"})


@pytest.mark.slow
def test_a_worker_host_serves_its_own_counts_apart_from_the_web_host(
    database_url: str, redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    web_port, metrics_port = free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    common = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_MIRROR_QUEUE": queue_name,
    }
    # Two "hosts": each its own metrics directory, as on separate machines.
    web_env = {**common, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "web-host")}
    worker_env = {
        **common,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "worker-host"),
        "CLERK_MIRROR_METRICS_PORT": str(metrics_port),
    }
    worker_url = f"http://127.0.0.1:{metrics_port}/metrics"
    with (
        running(web_argv(web_port), web_env, tmp_path / "web.log"),
        running(worker_argv(queue_name), worker_env, tmp_path / "worker.log"),
        # A second worker on the same host finds the port taken and works on without it.
        running(worker_argv(queue_name), worker_env, tmp_path / "worker2.log"),
    ):
        wait_for(web_ready(base), 30, "web")
        wait_for(lambda: scrape(worker_url) is not None, 30, "the worker's metrics endpoint")
        for i, name in enumerate(STORY[:3]):
            body = json.dumps(fixture_body(name)).encode()
            answer = httpx.post(f"{base}/webhooks/clerk", content=body, headers=sign(body, f"m{i}"))
            assert answer.status_code == 200, answer.text

        def counted() -> bool:
            text = scrape(worker_url)
            return (
                text is not None
                and sample(text, "clerk_mirror_events_applied_total", outcome="processed") == 3
            )

        wait_for(counted, 60, "the worker host counting three applied events")
        logs = [tmp_path / "worker.log", tmp_path / "worker2.log"]
        wait_for(
            lambda: sum("metrics port unavailable" in log.read_text() for log in logs) == 1,
            30,
            "one of the two workers standing down from the port",
        )
        web_text = httpx.get(f"{base}/metrics", timeout=5).text
    assert sample(web_text, "clerk_mirror_webhooks_received_total", outcome="accepted") == 3
    # The web host's scrape holds none of the worker host's counts: the sum over hosts is exact.
    assert sample(web_text, "clerk_mirror_events_applied_total", outcome="processed") == 0
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM clerk.webhook_events WHERE status = 'processed'")
        assert row.fetchone() == (3,)
