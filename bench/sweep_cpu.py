"""Where the CPU of a paced load goes: `python -m bench.sweep_cpu RATE [SECONDS]`.

Runs the sweep's paced load once (web, worker and the pacer on the same cores, as
`--only sweep` does; run it under `python -m worker.dev run`) and reads from /proc the CPU
of every process taking part, from the first request after a warm-up (WARMUP_S at the
same rate, as the sweep runs) until every event is applied:
the web, the worker, the Postgres backends of each (told apart by `application_name`),
Postgres's own processes, Redis and the pacer itself. Prints CPU per applied event
(µs) next to the applied latency, the drain tasks and batches the worker ran.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from bench import db, ingest, latency, procs
from bench.__main__ import REDIS_URL, SERVER_URL, env_for
from tests.support.processes import free_port, running, wait_for, web_ready, worker_argv
from worker.db import connect

APP_NAMES = {"web": "bench-web", "worker": "bench-worker"}
WARMUP_S = 2
BACKENDS = """
SELECT pid, application_name FROM pg_stat_activity WHERE backend_type = 'client backend'
"""


def _stat(pid: int) -> tuple[int, int, float, float] | None:
    """(parent, process group, user and system CPU seconds) of a process, or None when it
    is gone."""
    fields = procs.stat(pid)
    if not fields:
        return None
    return int(fields[1]), int(fields[2]), int(fields[11]) / procs.HZ, int(fields[12]) / procs.HZ


class _Statements:
    """pg_stat_statements of the run's database, when the server preloads it (not the
    dev server's default: `ALTER SYSTEM SET shared_preload_libraries` and a restart)."""

    # calls | total ms | rows | ms per call | the statement's start
    TOP = """
    SELECT calls, round(total_exec_time::numeric, 1), rows,
           round((total_exec_time / calls)::numeric, 3),
           left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
    FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    ORDER BY total_exec_time DESC LIMIT 30
    """

    def __init__(self, url: str) -> None:
        self.url, self.on = url, False
        try:
            with connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                conn.execute("SELECT pg_stat_statements_reset()")
            self.on = True
        except psycopg.Error:
            return  # not preloaded: no statement figures

    def top(self) -> list[str]:
        if not self.on:
            return []
        with connect(self.url, autocommit=True) as conn:
            return [" | ".join(str(v) for v in row) for row in conn.execute(self.TOP)]


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all but idle and iowait)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / procs.HZ


def _redis_pids(url: str) -> set[int]:
    port = urlsplit(url).port or 6379
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"redis-server" in cmdline and f":{port}".encode() in cmdline:
                found.add(int(entry))
    return found


class Accounts:
    """CPU seconds of each group of processes, from samples of every process's total (a
    process that exits between samples loses at most one interval)."""

    def __init__(self, groups: dict[str, int], postmaster: int, url: str, redis: set[int]):
        self.groups, self.postmaster, self.url, self.redis = groups, postmaster, url, redis
        self.first: dict[int, tuple[float, float]] = {}
        self.last: dict[int, tuple[str, float, float]] = {}
        self.names: dict[int, str] = {}

    def _backend_names(self) -> None:
        with connect(self.url, autocommit=True) as conn:
            self.names.update({pid: name for pid, name in conn.execute(BACKENDS)})

    def _kind(self, pid: int, parent: int, group: int) -> str | None:
        for name, pgid in self.groups.items():
            if group == pgid:
                return name
        if pid == os.getpid():
            return "pacer"
        if pid in self.redis:
            return "redis"
        if pid == self.postmaster:
            return "pg_other"
        if parent == self.postmaster:
            name = self.names.get(pid, "")
            for kind, app in APP_NAMES.items():
                if name == app:
                    return f"pg_{kind}"
            return "pg_other" if pid not in self.names else "pg_bench"
        return None

    def sample(self, *, first: bool = False) -> None:
        self._backend_names()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            found = _stat(pid)
            if found is None:
                continue
            kind = self._kind(pid, found[0], found[1])
            if kind is None:
                continue
            if first:
                self.first[pid] = found[2], found[3]
            self.last[pid] = (kind, found[2], found[3])

    def used(self, part: int | None = None) -> dict[str, float]:
        """CPU seconds of each kind of process: user + system, or only user (part 0) or
        only system (part 1)."""
        out: dict[str, float] = {}
        for pid, (kind, *cpu) in self.last.items():
            before = self.first.get(pid, (0.0, 0.0))
            parts = (0, 1) if part is None else (part,)
            out[kind] = out.get(kind, 0.0) + sum(cpu[i] - before[i] for i in parts)
        return out


def run(rate: int, seconds: int, work: Path) -> dict[str, Any]:
    url = db.create(SERVER_URL)
    try:
        env = env_for(url)
        port = free_port()
        web_env = {**env, "PGAPPNAME": APP_NAMES["web"]}
        worker_env = {**env, "PGAPPNAME": APP_NAMES["worker"]}
        web_log, worker_log = work / "web.log", work / "worker.log"
        with (
            running(procs.gunicorn_argv("webhooks:create_app()", port), web_env, web_log) as web,
            running(worker_argv(env["CLERK_MIRROR_QUEUE"]), worker_env, worker_log) as worker,
        ):
            wait_for(web_ready(f"http://127.0.0.1:{port}"), 30, "web")
            procs.wait_for_line(worker_log, "ready.")
            # As the sweep does: the new processes' first seconds are not the steady load.
            run_id = uuid.uuid4().hex[:8]
            latency.warm_up(port, url, rate, WARMUP_S, run_id)
            postmaster = ingest.postmaster_pid(url)
            assert postmaster is not None, "the bench's Postgres must run on this machine"
            accounts = Accounts(
                {"web": web.pid, "worker": worker.pid}, postmaster, url, _redis_pids(REDIS_URL)
            )
            stop = threading.Event()

            def sampler() -> None:
                while not stop.wait(0.5):
                    accounts.sample()

            statements = _Statements(url)
            accounts.sample(first=True)
            machine_before = _machine_busy()
            thread = threading.Thread(target=sampler, daemon=True)
            started = time.perf_counter()
            thread.start()
            spies = _spies(web.pid, worker.pid, seconds)
            ids, results = latency.paced(port, rate, seconds, run=run_id, first=rate * WARMUP_S)
            with connect(url, autocommit=True) as conn:
                wait_for(
                    lambda: conn.execute(latency.PENDING).fetchone() == (0,), 60, "all applied"
                )
                wall = time.perf_counter() - started
                stop.set()
                thread.join()
                accounts.sample()
                machine = _machine_busy() - machine_before
                applied = [float(r[0]) for r in conn.execute(latency.APPLIED, {"ids": ids})]
            for spy in spies:
                spy.wait()
            top = statements.top()
        log = worker_log.read_text(errors="replace")
        used = accounts.used()
        per_event = {k: round(1e6 * v / max(len(applied), 1)) for k, v in sorted(used.items())}
        return {
            "rate": rate,
            "seconds": seconds,
            "applied": len(applied),
            "non_2xx": sum(1 for _, status in results if not 200 <= status < 300),
            "applied_p50_ms": round(latency.percentile(applied, 50), 1),
            "applied_p99_ms": round(latency.percentile(applied, 99), 1),
            "client_p99_ms": round(latency.percentile([ms for ms, _ in results], 99), 1),
            "wall_s": round(wall, 2),
            "cpu_s": {k: round(v, 2) for k, v in sorted(used.items())},
            "cores_busy": round(sum(used.values()) / wall, 2),
            "cpu_us_per_event": per_event,
            "cpu_us_per_event_total": sum(per_event.values()),
            "system_us_per_event": {
                k: round(1e6 * v / max(len(applied), 1))
                for k, v in sorted(accounts.used(1).items())
            },
            "machine_busy_cores": round(machine / wall, 2),
            "drain_tasks": len(re.findall(r"Task \S+ succeeded|Task \S+\[.*\] succeeded", log)),
            "batches": log.count("batch applied"),
            "statements": top,
        }
    finally:
        db.drop(url, SERVER_URL)


def _spies(web: int, worker: int, seconds: int) -> list[subprocess.Popen[bytes]]:
    """With BENCH_PYSPY=DIR, py-spy samples the web and the worker (and their children)
    while the load runs, into DIR/web.txt and DIR/worker.txt (collapsed stacks). It costs
    CPU of its own: not for the figures, only for where the time goes."""
    out = os.environ.get("BENCH_PYSPY")
    if not out:
        return []
    spy = str(Path(sys.executable).with_name("py-spy"))
    argv = [spy, "record", "--subprocesses", "--nonblocking", "--gil", "--rate", "50"]
    argv += ["--format", "raw", "--duration", str(seconds)]
    return [
        subprocess.Popen(
            [*argv, "--pid", str(pid), "-o", f"{out}/{name}.txt"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in (("web", web), ("worker", worker))
    ]


def main(argv: list[str]) -> None:
    rate = int(argv[0]) if argv else 600
    seconds = int(argv[1]) if len(argv) > 1 else 20
    with tempfile.TemporaryDirectory(prefix="cpm-sweep-cpu-") as tmp:
        os.sync()
        print(json.dumps(run(rate, seconds, Path(tmp)), indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
