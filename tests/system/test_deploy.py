"""Several hosts, one failing, nothing lost (`make test-deploy`, as root).

Two web hosts behind haproxy, two worker hosts (beat on the first), Postgres and Redis on
a database host, each host a network namespace. While a burst of signed events goes
through the balancer, one web host is cut off the network and brought back, and every
process on the first worker host is SIGKILLed, then started again as after a reboot.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.faults import harness, synth
from tests.system import deployment as deploy
from tests.system import netns
from worker.tasks import BATCH_USERS

pytestmark = pytest.mark.system

USERS, VERSIONS = 600, 5  # 3,000 events
RATE = 120.0  # first tries per second: the burst lasts about 25 s, long enough for faults
# The sender gives up on an event after this long (Svix after days): ample for a 25 s
# burst, and short enough that a stuck event fails the test with what its tries got,
# well inside the test's own timeout.
SENDER_DEADLINE_S = 150.0


def metric(text: str, name: str, **labels: str) -> float:
    return sum(
        float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


class Burst:
    def __init__(self, d: deploy.Deployment, events: list[synth.Event]) -> None:
        self.d, self.total = d, len(events)
        self.progress = d.work / "progress"
        self.out = d.work / "answers.json"
        order = list(events)
        random.Random(18).shuffle(order)  # Svix promises no order
        (d.work / "events.json").write_text(json.dumps(order))
        self.proc = d.sender(
            d.work / "events.json", self.out, self.progress, RATE, SENDER_DEADLINE_S
        )

    def settled(self) -> int:
        try:
            return int(self.progress.read_text() or 0)
        except (OSError, ValueError):
            return 0

    def reached(self, share: float) -> bool:
        return self.settled() >= share * self.total

    def over(self) -> bool:
        """The sender wrote its answers, or exited without them (its log says why)."""
        return self.out.exists() or self.proc.poll() is not None

    def wait(self, share: float, what: str) -> None:
        deploy.wait_for(lambda: self.reached(share) or self.over(), SENDER_DEADLINE_S, what)
        if self.over():
            self.assert_answered()
            assert self.settled() < self.total, (
                f"the burst ended before {what}: it was too fast for the fault to land in it"
            )

    def answers(self) -> dict[str, dict[str, Any]]:
        deploy.wait_for(self.over, SENDER_DEADLINE_S + 30, "the sender finishing")
        self.assert_answered()
        answers: dict[str, dict[str, Any]] = json.loads(self.out.read_text())
        return answers

    def assert_answered(self) -> None:
        if not self.out.exists():  # the sender wrote no answers: it ended in a traceback
            raise AssertionError(f"the sender exited {self.proc.wait()} without its answers")


class Timeline:
    """When each step of the run was reached, and how far the burst was: printed with the
    result, and with the logs when the run fails."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.marks: list[str] = []
        self.burst: Burst | None = None

    def mark(self, what: str) -> None:
        settled = f", {self.burst.settled()} settled" if self.burst else ""
        self.marks.append(f"{time.monotonic() - self.start:6.1f} s  {what}{settled}")

    def __str__(self) -> str:
        return "\n".join(self.marks)


def scrape(d: deploy.Deployment) -> dict[str, str]:
    urls = {
        host: f"http://{netns.address(host)}:{port}/metrics"
        for host, port in (
            ("web1", deploy.WEB_PORT),
            ("web2", deploy.WEB_PORT),
            ("wk1", deploy.METRICS_PORT),
            ("wk2", deploy.METRICS_PORT),
        )
    }
    found = json.loads(d.client("scrape", *urls.values()))
    missing = [host for host, url in urls.items() if found[url] is None]
    assert not missing, f"no /metrics from {missing}"
    return {host: found[url] for host, url in urls.items()}


def settled(url: str, total: int) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'processed'), count(*)"
            " FROM clerk.webhook_events"
        ).fetchone()
    return row == (total, total)


# Past every wait below (each fails on its own with what it waited for) and the teardown.
@pytest.mark.timeout(900)
def test_two_web_and_two_worker_hosts_lose_nothing_when_one_of_each_fails(
    tmp_path: Path,
) -> None:
    deploy.clean_leftovers()
    events = synth.burst(USERS, VERSIONS)
    timeline = Timeline()
    d = deploy.deploy(tmp_path)
    timeline.mark("deployed")
    try:
        run_the_burst_through_the_faults(d, events, timeline)
    except BaseException:
        timeline.mark("failed")
        print(f"\nthe run, as it failed:\n{timeline}\nthe hosts' logs:\n{d.log_tails()}")
        raise
    finally:
        d.stop()
    print(f"the run:\n{timeline}")
    # Nothing of the run is left: namespaces, their processes, the run's folder.
    assert netns.ours() == []
    assert not d.work.exists()
    assert all(p.poll() is not None for procs in d.procs.values() for p in procs)


def run_the_burst_through_the_faults(
    d: deploy.Deployment, events: list[synth.Event], timeline: Timeline
) -> None:
    url = d.local_database_url
    reference = reference_state(url, events)
    timeline.mark("reference state")
    deploy.wait_for(
        lambda: d.haproxy_status() == {"web1": "UP", "web2": "UP"}, 120, "both web hosts UP"
    )
    burst = timeline.burst = Burst(d, events)
    timeline.mark("burst started")

    burst.wait(0.2, "cutting web1")
    netns.cut("web1")
    timeline.mark("web1 cut")
    deploy.wait_for(lambda: d.haproxy_status()["web1"].startswith("DOWN"), 60, "web1 DOWN")
    burst.wait(0.4, "reconnecting web1")
    netns.reconnect("web1")
    timeline.mark("web1 reconnected")
    deploy.wait_for(lambda: d.haproxy_status()["web1"] == "UP", 60, "web1 UP again")
    web1_at_return = metric(scrape(d)["web1"], "clerk_mirror_webhooks_received_total")
    timeline.mark("web1 UP again")

    burst.wait(0.55, "killing worker host wk1")
    killed = d.kill_host("wk1")
    timeline.mark("wk1 killed")
    assert len(killed) >= 4, killed  # the worker, its two children and beat
    burst.wait(0.7, "restarting wk1")
    d.start_worker_host("wk1", beat=True)
    timeline.mark("wk1 restarted")

    answers = burst.answers()
    timeline.mark("sender finished")
    deploy.wait_for(lambda: settled(url, len(events)), 300, "every event applied")
    timeline.mark("every event applied")
    scraped = scrape(d)

    # Every event got a 2xx in the end (the sender retries like Svix), and none is lost.
    not_ok = {k: v for k, v in answers.items() if not 200 <= v["status"] < 300}
    assert not not_ok, list(not_ok.items())[:5]
    retried = sum(v["tries"] > 1 for v in answers.values())
    # Exactly once, and the mirror is what the events imply (newest wins, per user).
    harness.assert_applied_exactly_once(url, events, reference)

    # Each host scraped on its own; the sums add up to what the inbox holds.
    web = [scraped["web1"], scraped["web2"]]
    accepted = sum(
        metric(t, "clerk_mirror_webhooks_received_total", outcome="accepted") for t in web
    )
    duplicate = sum(
        metric(t, "clerk_mirror_webhooks_received_total", outcome="duplicate") for t in web
    )
    assert accepted == len(events)  # one insert per event, counted by the host that made it
    tries = sum(v["tries"] for v in answers.values())
    assert len(events) <= accepted + duplicate <= tries
    assert metric(scraped["web1"], "clerk_mirror_webhooks_received_total") > web1_at_return
    for text in web:
        assert metric(text, "clerk_mirror_inbox_pending") == 0
    workers = [scraped["wk1"], scraped["wk2"]]
    applied = [metric(t, "clerk_mirror_events_applied_total", outcome="processed") for t in workers]
    # A kill between a batch's commit and its count loses that count, never more.
    lost_window = BATCH_USERS * 2
    assert len(events) - lost_window <= sum(applied) <= len(events), applied
    assert all(a > 0 for a in applied), applied
    for text in (*web, *workers):
        assert metric(text, "clerk_mirror_events_applied_total", outcome="failed") == 0
    failures = Counter(f for v in answers.values() for f in v["failures"])
    print(
        f"\n{len(events)} events, {retried} retried by the sender ({dict(failures)}),"
        f" {tries} tries;"
        f" web accepted {accepted:.0f}, duplicates {duplicate:.0f};"
        f" applied per worker host {applied}; wk1 processes killed: {len(killed)}"
    )


def reference_state(url: str, events: list[synth.Event]) -> dict[str, Any]:
    """The mirror the events imply, applied one at a time in a database of its own."""
    server = url.replace(f"/{deploy.DATABASE}?", "/postgres?")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "reference_template" TEMPLATE "{deploy.DATABASE}"')
    return harness.one_by_one(server, "reference_template", events)
