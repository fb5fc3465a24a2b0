"""The container image (`make test-image`): built from the committed tree, run as its roles.

The base is a local Debian image (scripts/image-base), since no registry is reachable
here; the Dockerfile is the one users build on the default public base. Containers use
host networking against a throwaway Postgres and Redis on loopback.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.ship import dists
from tests.support.bodies import fixture_body
from tests.support.processes import free_port, wait_for
from tests.support.signing import TEST_SECRET, sign
from tests.system import podman as pm
from worker.dev import services as devservices

pytestmark = pytest.mark.system

PREFIX = "cpm-image-test-"
CREATED = "user.created__unverified_phone"
APP_HOME = "/var/lib/clerk-mirror"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image, built from the committed tree with a wheelhouse made for the base's Python."""
    if why := pm.available():
        pytest.fail(why)
    pm.remove_containers(PREFIX)  # a crashed run's leftovers
    work = tmp_path_factory.mktemp("image")
    base = pm.base_image()
    context = dists.committed_tree(work / "context")
    built = dists.build(context, work / "dist")
    house = dists.wheelhouse(built.wheel, pm.python_of(base), pm.wheels_inside(base))
    shutil.copytree(house, context / "wheelhouse")
    tag = f"localhost/clerk-mirror:test-{uuid.uuid4().hex[:8]}"
    pm.build(context, tag, base, "--no-index --find-links /src/wheelhouse")
    try:
        yield tag
    finally:
        pm.remove_containers(PREFIX)
        pm.podman("rmi", "--force", tag, check=False)
        pm.prune_build_layers()


@pytest.fixture(scope="module")
def backing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A throwaway Postgres (with the mirror's database) and Redis, on loopback."""
    work = tmp_path_factory.mktemp("backing")
    pg = devservices.start_postgres(work / "pg")
    try:
        rd = devservices.start_redis(work / "redis")
        try:
            db = devservices.create_database(pg.url, "clerk_mirror")
            yield {"DATABASE_URL": db, "REDIS_URL": rd.url}
        finally:
            rd.stop()
    finally:
        pg.stop()


def run_args(name: str, env: dict[str, str]) -> list[str]:
    flags = ["--name", f"{PREFIX}{name}", "--network", "host", *pm.LIMITS]
    for key, value in env.items():
        flags += ["--env", f"{key}={value}"]
    return flags


def metric(text: str, name: str, **labels: str) -> float:
    return sum(
        float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def test_the_image_runs_migrate_web_worker_and_beat(image: str, backing: dict[str, str]) -> None:
    web_port, metrics_port = free_port(), free_port()
    env = {
        **backing,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_MIRROR_QUEUE": f"cpm_image_{uuid.uuid4().hex[:8]}",
        "CLERK_MIRROR_SWEEP_INTERVAL": "1",
    }
    migrated = pm.podman("run", "--rm", *run_args("migrate", env), image, "migrate")
    assert "applied 0001_create_clerk_schema" in migrated, migrated
    pm.podman("run", "--detach", *run_args("web", {**env, "PORT": str(web_port)}), image, "web")
    worker_env = {**env, "CLERK_MIRROR_METRICS_PORT": str(metrics_port)}
    pm.podman("run", "--detach", *run_args("worker", worker_env), image, "worker")
    pm.podman("run", "--detach", *run_args("beat", env), image, "beat")

    base = f"http://127.0.0.1:{web_port}"
    wait_for(lambda: (r := get(f"{base}/readyz")) is not None and r.status_code == 200, 90, "web")
    body = json.dumps(fixture_body(CREATED)).encode()
    answer = httpx.post(f"{base}/webhooks/clerk", content=body, headers=sign(body, "msg_image_1"))
    assert answer.status_code == 200, answer.text

    def applied() -> bool:
        with psycopg.connect(backing["DATABASE_URL"]) as conn:
            row = conn.execute(
                "SELECT status FROM clerk.webhook_events WHERE svix_id = 'msg_image_1'"
            ).fetchone()
        return row == ("processed",)

    wait_for(applied, 90, "the worker container applying the event")
    worker_metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    wait_for(lambda: get(worker_metrics) is not None, 30, "the worker's metrics endpoint")
    scraped = httpx.get(worker_metrics, timeout=5).text
    assert metric(scraped, "clerk_mirror_events_applied_total", outcome="processed") == 1

    for role in ("web", "worker", "beat"):
        assert pm.podman("exec", f"{PREFIX}{role}", "id", "-u").strip() == "10001", role
    # beat's schedule and the shared metric files live in the app user's own directory.
    wait_for(
        lambda: "celerybeat-schedule" in pm.podman("exec", f"{PREFIX}beat", "ls", APP_HOME),
        60,
        "beat writing its schedule",
    )
    owners = pm.podman(
        "exec", f"{PREFIX}worker", "stat", "-c", "%U %n", APP_HOME, f"{APP_HOME}/metrics"
    )
    assert owners.split() == ["clerk-mirror", APP_HOME, "clerk-mirror", f"{APP_HOME}/metrics"]
    # The image's own health check, run as the engine runs it, for the web and the worker.
    pm.podman("healthcheck", "run", f"{PREFIX}web")
    pm.podman("healthcheck", "run", f"{PREFIX}worker")
    # No compiler in the runtime.
    compilers = pm.podman(
        "run", "--rm", *run_args("tools", {}), "--entrypoint", "sh", image, "-c",
        "command -v cc gcc c++ make || true",
    )  # fmt: skip
    assert compilers.strip() == ""


def test_the_image_size_is_printed(image: str, capsys: pytest.CaptureFixture[str]) -> None:
    size = int(pm.podman("image", "inspect", "--format", "{{.Size}}", image).strip())
    with capsys.disabled():
        print(f"\nimage {image}: {size / 1e6:.0f} MB")
    assert size < 400e6


def test_an_unknown_role_runs_as_a_command(image: str, backing: dict[str, str]) -> None:
    out = pm.podman("run", "--rm", *run_args("status", backing), image, "clerk-mirror", "status")
    assert "pending" in out.lower(), out
