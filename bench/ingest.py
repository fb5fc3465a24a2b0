"""Ingest: signed ~3 KB user.updated POSTs under gunicorn, driven by wrk over signed requests."""

from __future__ import annotations

import dataclasses
import os
import re
import resource
import shutil
import statistics
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench import payloads, procs
from bench.baseline_apps import NAIVE_TABLE
from tests.support.processes import free_port, running, wait_for, web_ready
from worker.db import connect

APPS = {
    "hello": "bench.baseline_apps:hello_app()",
    "naive": "bench.baseline_apps:naive_app()",
    "endpoint": "webhooks:create_app()",
    "endpoint_without_store": "bench.probe_apps:endpoint_without_store()",
    "endpoint_with_sleep_store": "bench.probe_apps:endpoint_with_sleep_store()",
}
LUA = Path(__file__).with_name("requests.lua")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True, slots=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    wrapped: int
    rss_mb: float
    # CPU time per request (µs) of the web processes, of Postgres and of wrk.
    cpu_us: dict[str, int] = field(default_factory=dict)

    def asdict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def median_round(rounds: list[WrkResult]) -> dict[str, object]:
    """The round with the median rate, and every round's rate beside it."""
    chosen = sorted(rounds, key=lambda r: r.rps)[len(rounds) // 2]
    out = chosen.asdict()
    out["rounds_rps"] = [round(r.rps) for r in rounds]
    out["rps_spread"] = (max(r.rps for r in rounds) - min(r.rps for r in rounds)) / statistics.mean(
        r.rps for r in rounds
    )
    return out


def cpu_seconds(pgid: int, postmaster: int | None = None) -> dict[str, float]:
    """CPU seconds used so far by a process group (the web server) and by Postgres: the
    server whose postmaster is given (it and its children), else every postgres process."""
    used = {"web": 0.0, "postgres": 0.0}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        ours = postmaster in (int(entry), int(fields[1])) if postmaster else comm == "postgres"
        key = "web" if int(fields[2]) == pgid else "postgres" if ours else None
        if key:
            used[key] += (int(fields[11]) + int(fields[12])) / procs.HZ
    return used


def postmaster_pid(database_url: str) -> int | None:
    """The pid of the Postgres server at database_url when it runs on this machine: the
    parent of our own backend. Other servers on a shared machine are then not counted."""
    with connect(database_url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        # Read while the connection is open: a closed one's backend may be gone already.
        fields = procs.stat(row[0]) if row else []
    return int(fields[1]) if fields else None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ensure_wrk() -> str:
    """wrk on PATH, installed from Debian when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
    found = shutil.which("wrk")
    if found is None:
        subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    assert found, "wrk could not be installed"
    return found


def write_requests(path: Path, count: int) -> None:
    """Sign `count` requests now (signatures are good for 5 minutes) into a wrk input file."""
    run = uuid.uuid4().hex[:8]
    with path.open("w") as out:
        for headers, body in payloads.signed_requests(run, count):
            sig = (headers["svix-id"], headers["svix-timestamp"], headers["svix-signature"])
            out.write("\t".join((*sig, body.decode())) + "\n")


def parse_wrk(text: str) -> tuple[float, float, float, int, int]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    pct = {}
    for label, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        pct[label] = float(value) * _UNITS[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    wrapped = re.search(r"wrapped: (\d+)", text)
    return (
        rps,
        pct["50"],
        pct["99"],
        int(bad.group(1)) if bad else 0,
        int(wrapped.group(1)) if wrapped else 0,
    )


def run_app(
    app: str, env: dict[str, str], work: Path, *, seconds: int, count: int, conns: int
) -> WrkResult:
    """Serve one app under the bench's gunicorn settings and load it with wrk."""
    wrk = ensure_wrk()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    postmaster = postmaster_pid(env["DATABASE_URL"])
    with running(procs.gunicorn_argv(APPS[app], port), env, work / f"web-{app}.log") as proc:
        wait_for(web_ready(base), 30, f"{app} web")
        rss = procs.RssPeak(proc.pid)
        for phase, secs, n in (("warm", 2, max(2000, count // 3)), ("run", seconds, count)):
            reqs = work / f"requests-{app}-{phase}.tsv"
            write_requests(reqs, n)
            argv = [wrk, "-t2", f"-c{conns}", f"-d{secs}s", "--latency", "-s", str(LUA)]
            before, wrk_before = cpu_seconds(proc.pid, postmaster), _children_cpu()
            out = subprocess.run(
                [*argv, f"{base}/webhooks/clerk", "--", str(reqs), "2"],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            after, wrk_after = cpu_seconds(proc.pid, postmaster), _children_cpu()
            rss.sample()
            reqs.unlink()
        (work / f"wrk-{app}.txt").write_text(out)
    parsed = parse_wrk(out)
    served = parsed[0] * seconds
    used = {key: after[key] - before[key] for key in after}
    used["wrk"] = wrk_after - wrk_before
    cpu_us = {key: round(1e6 * value / served) for key, value in used.items()}
    return WrkResult(*parsed, rss_mb=rss.peak, cpu_us=cpu_us)


def prepare_naive(database_url: str) -> None:
    with connect(database_url, autocommit=True) as conn:
        conn.execute(NAIVE_TABLE)
