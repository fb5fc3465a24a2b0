"""Start the servers and workers under test, and read their memory from /proc."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

PROCFILE = Path(__file__).parent.parent / "Procfile"


def _procfile_web() -> str:
    return next(line for line in PROCFILE.read_text().splitlines() if line.startswith("web:"))


def procfile_default(variable: str) -> str:
    """The default the Procfile's web line gives a variable (`${WEB_THREADS:-4}` -> "4")."""
    found = re.search(r"\$\{" + variable + r":-([^}]+)\}", _procfile_web())
    assert found, f"the Procfile's web line has no ${{{variable}:-...}}"
    return found.group(1)


def procfile_worker_class() -> str:
    found = re.search(r"--worker-class (\S+)", _procfile_web())
    assert found, "the Procfile's web line names no --worker-class"
    return found.group(1)


# The Procfile's settings (chosen from measurement, docs/benchmarks.md) unless overridden.
WEB_WORKERS = int(os.environ.get("WEB_CONCURRENCY") or procfile_default("WEB_CONCURRENCY"))
WEB_THREADS = int(os.environ.get("WEB_THREADS") or procfile_default("WEB_THREADS"))
WEB_WORKER_CLASS = os.environ.get("BENCH_WORKER_CLASS") or procfile_worker_class()
# The Procfile's worker (webhooks.serving.Worker) is gthread's, with requests read first.
THREADED = ("gthread", "webhooks.serving.Worker")


def gunicorn_argv(app_spec: str, port: int) -> list[str]:
    argv = [sys.executable, "-m", "gunicorn", "--no-control-socket"]
    argv += ["--workers", str(WEB_WORKERS), "--bind", f"127.0.0.1:{port}"]
    argv += ["--worker-class", WEB_WORKER_CLASS]
    if WEB_WORKER_CLASS in THREADED:
        argv += ["--threads", str(WEB_THREADS)]
    return [*argv, "--log-level", "warning", app_spec]


def wait_for_line(log: Path, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{text!r} not in {log} after {timeout} s")


# Clock ticks a second, the unit of /proc's CPU times.
HZ = os.sysconf("SC_CLK_TCK")


def stat(pid: int | str) -> list[str]:
    """/proc/<pid>/stat after the command's ")" ([0] is proc(5)'s third field, the state;
    [1] the parent, [2] the process group, [11] and [12] user and system CPU, [13] and [14]
    those of the children it reaped), or [] when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def cpu_s(pid: int, *, reaped: bool = False) -> float:
    """CPU seconds (user + system) of a process, with its reaped children's if asked; 0.0
    when it is gone."""
    fields = stat(pid)
    if not fields:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / HZ


def run_s(pid: int) -> float:
    """CPU seconds (user + system) of a process as its scheduler counts them, in ns where
    the kernel keeps that count (/proc/<pid>/schedstat), else in clock ticks (cpu_s): a
    batch of one event costs its backend less than a tick."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return cpu_s(pid)


def children(pid: int) -> list[int]:
    """The processes whose parent is pid."""
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and stat(e)[1:2] == [str(pid)]]


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in a process group (a server and its workers)."""
    total_kb = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if int(stat(entry)[2]) != pgid:
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total_kb / 1024


class RssPeak:
    """Peak and latest RSS of a process group, sampled by whoever calls sample()."""

    def __init__(self, pgid: int) -> None:
        self.pgid, self.peak, self.first, self.last = pgid, 0.0, 0.0, 0.0

    def sample(self) -> float:
        self.last = group_rss_mb(self.pgid)
        self.first = self.first or self.last
        self.peak = max(self.peak, self.last)
        return self.last
