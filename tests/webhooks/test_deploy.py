"""deploy/: the alert rules pass their promtool tests, and every query names a served metric."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from worker import metrics

ROOT = Path(__file__).parent.parent.parent
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "clerk-mirror.json"
METRIC = re.compile(r"\bclerk_mirror_[a-z_]+")
# A histogram is served as _bucket/_sum/_count, a counter as _total (and _created).
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: `make test` installs it (apt-get install prometheus)")
    return subprocess.run([found, *args], capture_output=True, text=True, timeout=60)


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_alert_rules_pass_their_promtool_unit_tests() -> None:
    checked = promtool("check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(ALERT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool parses recording rules offline: a cheap, exact PromQL syntax check.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query{i}", "expr": expr}
                    for i, expr in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard.rules.json"
    path.write_text(json.dumps(rules))  # JSON is YAML
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alerts_and_dashboard_use_only_metrics_the_web_serves(
    client: FlaskClient, database_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO clerk.sync_runs (status) VALUES ('running')")
    served = set()
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        served.add(family.name)
        served.update(sample.name for sample in family.samples)
    # Counters of the worker's and the web's own have no sample until first counted.
    made = metrics.shared()
    for shared in (made.webhooks_received, made.events_applied, made.apply_duration, made.sms_sent):
        served.update(family.name for family in shared.describe())
    named = set(METRIC.findall(ALERTS.read_text())) | {
        name for expr in dashboard_queries() for name in METRIC.findall(expr)
    }
    assert named
    missing = {n for n in named if n not in served and n.removesuffix("_total") not in served}
    missing = {
        n
        for n in missing
        if not any(n.endswith(s) and n.removesuffix(s) in served for s in SUFFIXES)
    }
    assert not missing, missing
