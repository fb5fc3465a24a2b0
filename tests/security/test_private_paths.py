"""No default path under a shared /tmp, and no directory another account can plant in.

Beat's schedule is a pickle and the metrics directory holds files every process sums and
writes through: each reproduction plants what another local account could (a file owned
by another uid, a directory others may write to) and checks that nothing trusts it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shelve
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from tests.support.processes import free_port, stop, wait_for
from tests.support.signing import TEST_SECRET

ROOT = Path(__file__).parents[2]
NOBODY = 65534
FORGED = 123456.0
SCRAPE = (
    "import sys, webhooks\n"
    "app = webhooks.create_app()\n"
    "try:\n"
    "    sys.stdout.write(app.test_client().get('/metrics').get_data(as_text=True))\n"
    "finally:\n"
    "    app.extensions['clerk_mirror'].close()\n"
)
WHERE = (
    "import os, sys\n"
    "if sys.argv[1] == 'web':\n"
    "    import webhooks; webhooks.create_app().extensions['clerk_mirror'].close()\n"
    "else:\n"
    "    import worker.tasks  # what the worker loads\n"
    "print(os.environ['PROMETHEUS_MULTIPROC_DIR'])\n"
)


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def environment(**changes: str | None) -> dict[str, str]:
    """This session's environment, the venv's tools first, with these set (None: unset)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def plant_forged_metrics(folder: Path, uid: int, mode: int) -> None:
    """What another account leaves: a metrics file claiming 123456 accepted deletions."""
    folder.mkdir()
    forged = MmapedDict(str(folder / "counter_4242.db"))
    key = mmap_key(
        "clerk_mirror_webhooks_received",
        "clerk_mirror_webhooks_received_total",
        ("event_type", "outcome"),
        ("user.deleted", "accepted"),
        "forged",
    )
    forged.write_value(key, FORGED, 0.0)
    forged.close()
    os.chown(folder / "counter_4242.db", uid, uid)
    os.chown(folder, uid, uid)
    folder.chmod(mode)


PLANTS = {
    "another user's": (NOBODY, 0o755),
    "another user's, open to all": (NOBODY, 0o777),
    "ours, writable by all": (os.getuid(), 0o777),
    "ours, writable by the group": (os.getuid(), 0o770),
    "ours, readable by all": (os.getuid(), 0o755),
}


@pytest.mark.parametrize("plant", list(PLANTS))
def test_the_web_refuses_a_metrics_directory_that_is_not_its_own_and_private(
    plant: str, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    planted = tmp_path / "metrics"
    plant_forged_metrics(planted, *PLANTS[plant])
    env = environment(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CLERK_WEBHOOK_SIGNING_SECRET=TEST_SECRET,
        PROMETHEUS_MULTIPROC_DIR=str(planted),
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRAPE], env=env, capture_output=True, text=True, timeout=60
    )
    assert str(FORGED) not in done.stdout
    assert done.returncode != 0
    refusal = done.stderr.strip().splitlines()[-1]
    assert re.search(r"PROMETHEUS_MULTIPROC_DIR: \S+ (belongs to uid|is open to other)", refusal)
    assert sorted(p.name for p in planted.iterdir()) == ["counter_4242.db"]


def test_the_worker_refuses_it_too_in_one_line(tmp_path: Path, redis_url: str) -> None:
    planted = tmp_path / "metrics"
    plant_forged_metrics(planted, NOBODY, 0o777)
    env = environment(REDIS_URL=redis_url, PROMETHEUS_MULTIPROC_DIR=str(planted))
    done = subprocess.run(
        [sys.executable, "-c", "import worker.tasks"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stderr.startswith("clerk-mirror: PROMETHEUS_MULTIPROC_DIR: ")
    assert done.stderr.count("\n") == 1


def test_the_procfile_web_stops_at_once_with_one_line_naming_the_variable(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    planted = tmp_path / "metrics"
    plant_forged_metrics(planted, NOBODY, 0o777)
    env = environment(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CLERK_WEBHOOK_SIGNING_SECRET=TEST_SECRET,
        PROMETHEUS_MULTIPROC_DIR=str(planted),
        PORT=str(free_port()),
        WEB_CONCURRENCY="1",
    )
    web = subprocess.Popen(
        ["bash", "-c", "exec " + procfile()["web"]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = web.communicate(timeout=30)
    finally:
        if web.poll() is None:
            os.killpg(web.pid, 9)
            web.wait()
    assert web.returncode != 0
    assert err.strip().startswith("clerk-mirror: PROMETHEUS_MULTIPROC_DIR: ")
    assert len(err.strip().splitlines()) == 1


def test_the_default_metrics_directory_is_private_in_the_users_own_state_and_shared_by_all(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = environment(
        HOME=str(home),
        XDG_STATE_HOME=None,
        PROMETHEUS_MULTIPROC_DIR=None,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CLERK_WEBHOOK_SIGNING_SECRET=TEST_SECRET,
    )
    chosen = {
        process: subprocess.run(
            [sys.executable, "-c", WHERE, process],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        for process in ("web", "worker")
    }
    # Web and worker agree without talking, on a directory of the user's own.
    assert chosen["web"] == chosen["worker"]
    metrics = Path(chosen["web"])
    state = home / ".local" / "state" / "clerk-mirror"
    assert metrics == state / "metrics-clerk_mirror"
    for folder in (state, metrics):
        info = folder.lstat()
        assert stat.S_ISDIR(info.st_mode)
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.getuid(), 0o700)


class Planted:
    """What unpickling runs: here it only leaves a mark, where an attacker runs anything."""

    def __init__(self, mark: Path) -> None:
        self.mark = mark

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.mark), "w"))


@pytest.fixture
def beat_queue(redis_url: str, queue_name: str) -> Iterator[str]:
    yield queue_name
    redis.Redis.from_url(redis_url).delete(queue_name)


def run_beat(env: dict[str, str], log: Path, until: str) -> tuple[int | None, str]:
    """The Procfile's beat line until it exits, a file matching `until` exists, or 30 s pass."""
    with log.open("w") as out:
        beat = subprocess.Popen(
            ["bash", "-c", "exec " + procfile()["beat"]],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: beat.poll() is not None or bool(glob.glob(until)), 30, "beat")
        code = beat.poll()
    finally:
        stop(beat)
    return code, log.read_text()


def test_beat_refuses_a_schedule_where_others_can_write_and_never_unpickles_it(
    tmp_path: Path, redis_url: str, beat_queue: str
) -> None:
    shared = tmp_path / "shared"  # like /tmp: everyone may create files, sticky
    shared.mkdir()
    shared.chmod(0o1777)
    schedule, mark = shared / "beat-schedule", tmp_path / "ran-planted-code"
    # The attacker's side: a shelve, as beat keeps its schedule, with a payload in it.
    with shelve.open(str(schedule)) as planted:  # noqa: S301 (written here, never read)
        planted["entries"] = Planted(mark)
    for path in shared.iterdir():
        os.chown(path, NOBODY, NOBODY)
    env = environment(
        REDIS_URL=redis_url,
        CLERK_MIRROR_QUEUE=beat_queue,
        CELERY_BEAT_SCHEDULE=str(schedule),
    )
    code, log = run_beat(env, tmp_path / "beat.log", until=str(mark))
    assert not mark.exists()
    assert code not in (None, 0)
    assert log.strip().startswith("clerk-mirror: CELERY_BEAT_SCHEDULE: ")
    assert "is open to other users" in log


def test_beat_keeps_its_schedule_in_the_users_private_state_by_default(
    tmp_path: Path, redis_url: str, beat_queue: str
) -> None:
    assert "/tmp" not in (ROOT / "Procfile").read_text()  # noqa: S108 (what must not be)
    home = tmp_path / "home"
    home.mkdir()
    state = home / ".local" / "state" / "clerk-mirror"
    env = environment(
        HOME=str(home),
        XDG_STATE_HOME=None,
        CELERY_BEAT_SCHEDULE=None,
        REDIS_URL=redis_url,
        CLERK_MIRROR_QUEUE=beat_queue,
    )
    # dbm may add a suffix to the name it is given.
    schedule = f"{state}/beat-schedule-{beat_queue}*"
    code, log = run_beat(env, tmp_path / "beat.log", until=schedule)
    assert code is None, log  # still running: it opened its schedule and went on
    assert glob.glob(schedule), log
    info = state.lstat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.getuid(), 0o700)
