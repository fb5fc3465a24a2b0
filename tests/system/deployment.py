"""A production-shaped deployment on namespaced hosts: its servers, its processes, their teardown.

db: Postgres and Redis; web1, web2: the Procfile's web line; wk1: worker and beat; wk2:
worker; lb: haproxy over web1 and web2, health-checking /readyz; client: the sender.
Postgres, Redis and haproxy also listen on unix sockets in the run's folder, which the
test (outside every namespace) uses to look at them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.signing import TEST_SECRET
from tests.system import netns
from worker.dev import binaries

ROOT = Path(__file__).parent.parent.parent
WORK_PREFIX = "cpm-deploy-"
WEB_PORT, METRICS_PORT, LB_PORT = 8000, 9808, 8080
DATABASE = "clerk_mirror"

HAPROXY_CFG = """\
global
    maxconn 1000
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 10s
    retries 2
    option redispatch
frontend webhooks
    bind {lb}:{lb_port}
    default_backend web
backend web
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 300ms fall 2 rise 2
    server web1 {web1}:{web_port} check
    server web2 {web2}:{web_port} check
"""

POSTGRES_CONF = """
listen_addresses = '{address}'
port = 5432
unix_socket_directories = '{sockets}'
max_connections = 200
"""


def procfile() -> dict[str, str]:
    lines = (line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines())
    return {name.strip(): command.strip() for name, command in lines}


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(0.1)


@dataclass
class Deployment:
    work: Path
    logs: Path  # kept after the run, unlike work
    procs: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)

    # -- what the test reads, from outside every namespace --------------------------------
    @property
    def sockets(self) -> Path:
        return self.work / "sockets"

    @property
    def local_database_url(self) -> str:
        return f"postgresql://postgres@/{DATABASE}?host={self.sockets}"

    def env(self, host: str, **extra: str) -> dict[str, str]:
        """An app process's environment on host: its own metric files, the db host's servers."""
        home = self.work / host
        home.mkdir(exist_ok=True)
        db = netns.address("db")
        return {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "DATABASE_URL": f"postgresql://postgres@{db}:5432/{DATABASE}",
            "REDIS_URL": f"redis://{db}:6379/0",
            "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
            "CLERK_MIRROR_QUEUE": "clerk_mirror",
            "PROMETHEUS_MULTIPROC_DIR": str(home / "metrics"),
            "CELERY_BEAT_SCHEDULE": str(home / "celerybeat-schedule"),
            "CLERK_MIRROR_SWEEP_INTERVAL": "2",
            "CLERK_MIRROR_SWEEP_GRACE": "3",
            "PORT": str(WEB_PORT),
            "WEB_CONCURRENCY": "2",
            "WEB_THREADS": "4",
            "CELERY_CONCURRENCY": "2",
            **extra,
        }

    def start(self, host: str, role: str, argv: list[str], env: dict[str, str]) -> None:
        log = (self.logs / f"{host}-{role}.log").open("ab")
        with log:
            proc = subprocess.Popen(
                netns.inside(host, argv),
                cwd=ROOT,  # gunicorn.conf.py, as on a Procfile platform's checkout
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.setdefault(host, []).append(proc)

    def run_in(self, host: str, argv: list[str], env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            netns.inside(host, argv),
            cwd=ROOT,
            env=env or dict(os.environ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{host}: {' '.join(argv)}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    # -- servers ---------------------------------------------------------------------------
    def start_postgres(self) -> None:
        bindir = binaries.postgres_bindir()
        data = self.work / "pg"
        data.mkdir(mode=0o700)
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(self.sockets, "postgres", "postgres")
        runas = ["runuser", "-u", "postgres", "--"]
        init = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        subprocess.run([*runas, *init, "-E", "UTF8", "--locale=C"], check=True, capture_output=True)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(POSTGRES_CONF.format(address=netns.address("db"), sockets=self.sockets))
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {netns.SUBNET}.0/24 trust\n")
        log = data / "server.log"
        pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "start"]
        self.run_in("db", [*runas, *pg_ctl])
        self.run_in("db", [*runas, str(bindir / "createdb"), "-h", str(self.sockets), DATABASE])

    def start_redis(self) -> None:
        argv = [str(binaries.redis_server()), "--bind", netns.address("db"), "--port", "6379"]
        argv += ["--unixsocket", str(self.sockets / "redis.sock"), "--unixsocketperm", "700"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.work)]
        argv += ["--protected-mode", "no"]  # reached from the other hosts, on the bridge only
        self.start("db", "redis", argv, dict(os.environ))

    def start_haproxy(self) -> None:
        cfg = self.work / "haproxy.cfg"
        cfg.write_text(
            HAPROXY_CFG.format(
                sock=self.sockets / "haproxy.sock",
                lb=netns.address("lb"),
                lb_port=LB_PORT,
                web1=netns.address("web1"),
                web2=netns.address("web2"),
                web_port=WEB_PORT,
            )
        )
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.start("lb", "haproxy", [haproxy, "-db", "-f", str(cfg)], dict(os.environ))

    def haproxy_status(self) -> dict[str, str]:
        """Each web server's state as the balancer sees it (UP, DOWN, ...)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.sockets / "haproxy.sock"))
            sock.sendall(b"show stat\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        rows = [line.split(",") for line in b"".join(chunks).decode().splitlines()]
        header = rows[0]
        status = header.index("status")
        servers = [r for r in rows[1:] if len(r) > status and r[0] == "web"]
        return {r[1]: r[status] for r in servers if r[1] not in ("FRONTEND", "BACKEND")}

    # -- the application's processes -------------------------------------------------------
    def start_web(self, host: str) -> None:
        self.start(host, "web", ["bash", "-c", procfile()["web"]], self.env(host))

    def start_worker_host(self, host: str, *, beat: bool) -> None:
        env = self.env(host, CLERK_MIRROR_METRICS_PORT=str(METRICS_PORT))
        self.start(host, "worker", ["bash", "-c", procfile()["worker"]], env)
        if beat:
            self.start(host, "beat", ["bash", "-c", procfile()["beat"]], env)

    def migrate(self) -> None:
        self.run_in("wk1", ["bash", "-c", procfile()["release"]], self.env("wk1"))

    def kill_host(self, host: str) -> list[int]:
        """SIGKILL every process on host, as when it loses power."""
        killed = netns.kill_all(host)
        for proc in self.procs.pop(host, []):
            proc.wait(timeout=30)
        return killed

    def client(self, *args: str, timeout: float = 600) -> str:
        argv = [sys.executable, "-m", "tests.system.burst", *args]
        done = subprocess.run(
            netns.inside("client", argv),
            cwd=ROOT,
            env={**os.environ, "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"client {args[0]}: {done.stderr}")
        return done.stdout

    def sender(
        self, events: Path, out: Path, progress: Path, rate: float, deadline: float
    ) -> subprocess.Popen[bytes]:
        url = f"http://{netns.address('lb')}:{LB_PORT}/webhooks/clerk"
        argv = [sys.executable, "-m", "tests.system.burst", "send", str(events), url]
        argv += [str(out), str(progress), "--rate", str(rate), "--deadline", str(deadline)]
        env = {**os.environ, "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET}
        self.start("client", "sender", argv, env)
        return self.procs["client"][-1]

    def log_tails(self, lines: int = 15) -> str:
        """What a failed run prints of each process's log, since its folder is gone with the
        machine that ran it: the last lines that are not routine (an INFO line of the app's
        JSON logs is), then the last three lines, to show where each process had got to."""
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            every = log.read_text(errors="replace").splitlines()
            unusual = [line for line in every if '"level": "INFO"' not in line]
            kept = [*unusual[-lines:], "...", *every[-3:]]
            parts.append(f"--- {log.name}\n" + "\n".join(line[:300] for line in kept))
        return "\n".join(parts)

    # -- teardown --------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop what runs, gently first (Postgres writes its checkpoint), then remove it all.

        Whatever fails on the gentle path, the namespaces (with every process left in
        them) and the run's folder are removed.
        """
        try:
            self._stop_gently()
        finally:
            netns.remove_all()
            for procs in self.procs.values():
                for proc in procs:
                    proc.wait(timeout=30)
            shutil.rmtree(self.work, ignore_errors=True)

    def _stop_gently(self) -> None:
        for procs in self.procs.values():
            for proc in procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGTERM)
        for procs in self.procs.values():
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=15)
        if (self.work / "pg").exists():
            pg_ctl = binaries.postgres_bindir() / "pg_ctl"
            runas = ["runuser", "-u", "postgres", "--"]
            stop_pg = [*runas, str(pg_ctl), "-D", str(self.work / "pg"), "-m", "fast", "stop"]
            subprocess.run(stop_pg, capture_output=True, check=False, timeout=60)
            with contextlib.suppress(OSError):
                shutil.copy(self.work / "pg" / "server.log", self.logs / "db-postgres.log")


def clean_leftovers() -> None:
    """What a crashed run left: its namespaces (and their processes), then its folders."""
    netns.remove_all()
    for folder in Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}*"):
        shutil.rmtree(folder, ignore_errors=True)


def deploy(logs: Path) -> Deployment:
    """Hosts, servers, migrations, then web, worker and beat processes, and the balancer."""
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX))
    work.chmod(0o755)  # the postgres user passes through to its data and sockets
    (work / "sockets").mkdir()
    deployment = Deployment(work, logs)
    try:
        netns.create()
        deployment.start_postgres()
        deployment.start_redis()
        deployment.migrate()
        for host in ("web1", "web2"):
            deployment.start_web(host)
        deployment.start_worker_host("wk1", beat=True)
        deployment.start_worker_host("wk2", beat=False)
        deployment.start_haproxy()
    except BaseException:
        deployment.stop()
        raise
    return deployment
