"""What users install works: the wheel of the committed tree, in a fresh venv, outside the source.

Every other test runs the editable checkout, which maps the source tree and so cannot see
a module, a data file or a dependency missing from the wheel. Here nothing comes from the
checkout: the committed tree is built into an sdist and a wheel, installed (not editable)
from files into a new virtual environment, and run from an empty folder, the Procfile's
lines as a Heroku-style platform runs them.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.ship import dists
from tests.support.bodies import fixture_body
from tests.support.databases import create_database, drop_database, with_dbname
from tests.support.processes import free_port, stop, wait_for
from tests.support.signing import TEST_SECRET, sign
from worker.cli.main import main as cli_main

pytestmark = pytest.mark.slow

PROCFILE = dists.ROOT / "Procfile"
CREATED = "user.created__unverified_phone"


@dataclass(frozen=True)
class Installed:
    bin: Path
    dists: dists.Dists
    twine: str
    cwd: Path  # an empty folder: no source, no Procfile, no gunicorn.conf.py

    def env(self, **extra: str) -> dict[str, str]:
        """A platform's environment: the venv's bin first, nothing of this test's session."""
        base = {
            "PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.cwd),
            "LANG": "C.UTF-8",
        }
        return {**base, **extra}

    def run(self, argv: list[str], env: dict[str, str], timeout: float = 60) -> str:
        done = subprocess.run(
            argv, cwd=self.cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("ship")
    tree = dists.committed_tree(work / "tree")
    built = dists.build(tree, work / "dist")
    twine = dists.twine_check(built)
    house = dists.wheelhouse(built.wheel)
    venv_bin = dists.fresh_venv(work / "venv", built.wheel, house)
    empty = work / "elsewhere"
    empty.mkdir()
    return Installed(bin=venv_bin, dists=built, twine=twine, cwd=empty)


def procfile() -> dict[str, str]:
    lines = (line.split(":", 1) for line in PROCFILE.read_text().splitlines() if ":" in line)
    return {name.strip(): command.strip() for name, command in lines}


@dataclass
class Deployment:
    installed: Installed
    env: dict[str, str]
    url: str
    logs: Path


@pytest.fixture(scope="module")
def deployment(
    installed: Installed, services: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """A fresh database, the release line run on it, then web, worker and beat running."""
    work = tmp_path_factory.mktemp("procfile")
    name = create_database(services["postgres"])
    port = free_port()
    env = installed.env(
        DATABASE_URL=with_dbname(services["postgres"], name),
        REDIS_URL=services["redis"],
        CLERK_WEBHOOK_SIGNING_SECRET=TEST_SECRET,
        PORT=str(port),
        CLERK_MIRROR_QUEUE=f"cpm_ship_{uuid.uuid4().hex[:12]}",
        CELERY_BEAT_SCHEDULE=str(work / "beat-schedule"),
        PROMETHEUS_MULTIPROC_DIR=str(work / "metrics"),
        CLERK_MIRROR_SWEEP_INTERVAL="1",
        WEB_CONCURRENCY="1",
        WEB_THREADS="2",
        CELERY_CONCURRENCY="1",
    )
    lines = procfile()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        installed.run(["bash", "-c", lines["release"]], env)
        for role in ("web", "worker", "beat"):
            with (work / f"{role}.log").open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        ["bash", "-c", lines[role]],
                        cwd=installed.cwd,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{url}/readyz"), 60, f"the Procfile's web line ({work})")
        yield Deployment(installed, env, url, work)
    finally:
        for proc in procs:
            stop(proc)
        drop_database(services["postgres"], name)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _phone_rows(database_url: str, user_id: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT id, verification_status FROM clerk.phone_numbers WHERE user_id = %s",
            (user_id,),
        ).fetchall()


def test_sdist_and_wheel_pass_twine_check(installed: Installed) -> None:
    assert installed.twine.count("PASSED") == 2, installed.twine


def test_every_shipped_module_imports_from_the_installed_wheel(installed: Installed) -> None:
    modules = [m for m in dists.shipped_modules(installed.dists.wheel) if ".__main__" not in m]
    assert {"webhooks", "worker.privacy", "worker.tasks", "worker.cli.main"} <= set(modules)
    script = (
        "import importlib, json, sys\n"
        "files = {m: importlib.import_module(m).__file__ for m in sys.argv[1:]}\n"
        "print(json.dumps(files))\n"
    )
    out = installed.run([str(installed.bin / "python"), "-c", script, *modules], installed.env())
    files = json.loads(out)
    venv = installed.bin.parent.resolve()
    # Each one from the installed wheel: never the checkout, never another environment.
    assert all(Path(f).resolve().is_relative_to(venv) for f in files.values()), files
    migrations = installed.run(
        [
            str(installed.bin / "python"),
            "-c",
            "from importlib import resources; "
            "print(*sorted(p.name for p in resources.files('worker.sql')"
            ".joinpath('migrations').iterdir()))",
        ],
        installed.env(),
    ).split()
    assert migrations == sorted(p.name for p in (dists.ROOT / "sql" / "migrations").glob("*.sql"))


def test_the_procfile_lines_apply_a_signed_event(deployment: Deployment) -> None:
    body = json.dumps(fixture_body(CREATED)).encode()
    msg_id = f"msg_ship_{uuid.uuid4().hex}"
    answer = httpx.post(
        f"{deployment.url}/webhooks/clerk", content=body, headers=sign(body, msg_id)
    )
    assert answer.status_code in (200, 202, 204), answer.text
    user_id = fixture_body(CREATED)["data"]["id"]
    database_url = deployment.env["DATABASE_URL"]
    wait_for(lambda: bool(_phone_rows(database_url, user_id)), 60, "the worker applying it")
    assert _phone_rows(database_url, user_id) == [("idn_2pPhoneAdaUS00000000001", "unverified")]
    # beat sends the sweep (every second here) and the worker runs it.
    worker_log = deployment.logs / "worker.log"
    wait_for(
        lambda: "clerk_mirror.sweep" in worker_log.read_text(errors="replace"),
        60,
        "a sweep sent by beat, received by the worker",
    )
    assert any(deployment.logs.glob("beat-schedule*")), "beat kept no schedule file"


def test_every_command_answers(deployment: Deployment, tmp_path: Path) -> None:
    installed, env = deployment.installed, deployment.env
    cli = str(installed.bin / "clerk-mirror")
    commands = sorted(cli_main.commands)
    listed = installed.run([cli, "--help"], env)
    assert all(re.search(rf"^  {command}\b", listed, re.M) for command in commands), listed
    sent = installed.run(
        [cli, "send-sample", "--url", f"{deployment.url}/webhooks/clerk", "--secret", TEST_SECRET],
        env,
    )
    assert re.match(r"20[024] msg_sample_", sent), sent
    # A real call of each command (backfill below, against the fake Backend API).
    real_calls = {
        "migrate": [],
        "status": ["--json"],
        "replay": ["--status", "failed", "--dry-run"],
        "purge": ["--older-than", "30d", "--dry-run"],
        "report": ["verification_status", "--format", "json"],
        "erase": ["--user", "user_2pNobody00000000000001", "--dry-run"],
        "rehash": [],
        "classify": [],
        "console": ["list"],
    }
    assert real_calls.keys() | {"send-sample", "backfill"} == set(commands)
    for command, args in real_calls.items():
        installed.run([cli, command, *args], {**env, "CLERK_MIRROR_PII_KEY": "k" * 32})
    _backfill_from_the_fake_api(installed, env, tmp_path)


def _backfill_from_the_fake_api(installed: Installed, env: dict[str, str], tmp_path: Path) -> None:
    """backfill against the fake Backend API that ships with the package."""
    port = free_port()
    with (tmp_path / "fake.log").open("wb") as log:
        fake = subprocess.Popen(
            [
                str(installed.bin / "python"),
                *shlex.split(f"-m worker.fake_clerk --port {port} --users 400 --key sk_test_ship"),
            ],
            cwd=installed.cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "fake Clerk" in (tmp_path / "fake.log").read_text(), 30, "the fake API")
        backfill_env = {
            **env,
            "CLERK_SECRET_KEY": "sk_test_ship",
            "CLERK_API_URL": f"http://127.0.0.1:{port}/v1",
        }
        # 400 users: enough numbers on the page for the run to classify them in a process
        # of its own, which must start from the installed command.
        done = subprocess.run(
            [str(installed.bin / "clerk-mirror"), "backfill"],
            cwd=installed.cwd, env=backfill_env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        stop(fake)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "400 users listed" in done.stdout
    assert "classified in this process" not in done.stderr
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        row = conn.execute("SELECT status FROM clerk.sync_runs ORDER BY id DESC LIMIT 1").fetchone()
    assert row == ("succeeded",)
