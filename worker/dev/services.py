"""Throwaway Postgres and Redis for development and tests, each stopped by the pid it got."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from worker.dev import binaries as devbinaries
from worker.dev import passwords

DATABASE = "clerk_mirror"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
# Appended once by initdb: TCP on loopback only, and no Unix socket, so a dev server writes
# nothing outside its data directory and never collides with the machine's own Postgres.
POSTGRES_CONF = """
# clerk-mirror development server
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
"""
# Loopback is open to every local account: each role must give its password (SCRAM).
PG_HBA = """# clerk-mirror development server: TCP on loopback only, every role by password
host all all 127.0.0.1/32 scram-sha-256
"""


class ServiceError(RuntimeError):
    """A service did not start; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def postgres_answers(url: str, timeout: float = 1.0) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout)), autocommit=True) as c:
            c.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _identity(pid: int) -> str | None:
    """The kernel's start time of pid: a recycled pid has another one. None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # A zombie has exited; nobody may reap it here, so it must count as gone.
    return None if fields[0] in ("Z", "X") else fields[19]


@dataclass
class Service:
    """A server we started: `stop()` signals exactly this process, never one by name."""

    name: str
    url: str
    pid: int
    home: Path
    stop_signal: signal.Signals
    identity: str | None = None

    def __post_init__(self) -> None:
        if self.identity is None:
            self.identity = _identity(self.pid)

    def running(self) -> bool:
        return self.identity is not None and _identity(self.pid) == self.identity

    def stop(self) -> None:
        for sig, wait in ((self.stop_signal, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
            if not self.running():
                return
            os.kill(self.pid, sig)
            deadline = time.monotonic() + wait
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.02)


def _wait_until(ready: Callable[[], bool], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} did not answer within {START_TIMEOUT:.0f} s: {_tail(log)}")
        time.sleep(0.05)


def _run(argv: list[str], what: str, log: Path | None = None, stdin: str | None = None) -> None:
    done = subprocess.run(argv, check=False, capture_output=True, text=True, input=stdin)
    if done.returncode != 0:
        detail = _tail(log) if log else done.stderr.strip() or done.stdout.strip()
        raise ServiceError(f"{what} failed (exit {done.returncode}): {detail}")


def _tail(log: Path) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-8:])
    except OSError:
        return f"(no log at {log})"


def _make_dirs(path: Path) -> None:
    for missing in reversed([p for p in (path, *path.parents) if not p.exists()]):
        missing.mkdir()
        # Whatever the umask: the postgres user must be able to pass through what we create.
        missing.chmod(0o755)


def _stop_orphan(pidfile: Path, home: Path, sig: signal.Signals) -> None:
    """Stop a server left running on `home` by a run that died before it could stop it."""
    try:
        pid = int(pidfile.read_text().split()[0])
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except (OSError, ValueError, IndexError):
        cwd = None
    # Servers chdir into their data directory: a process there is ours, any other pid is stale.
    if cwd == home:
        Service("orphan", "", pid, home, sig).stop()
    pidfile.unlink(missing_ok=True)


def _postgres_user() -> pwd.struct_passwd | None:
    """The account to run Postgres as; None when we are not root (Postgres refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
        return pwd.getpwnam("postgres")


def _postgres_home(data_dir: Path, user: pwd.struct_passwd | None) -> Path:
    """data_dir, or a stand-in under /tmp when the postgres user cannot reach data_dir.

    We never widen permissions on directories we did not create (a home directory, say):
    when a parent is closed to others, the cluster lives in /tmp, named after data_dir so
    that the next run finds it again.
    """
    _make_dirs(data_dir.parent)
    if user is None or all(p.stat().st_mode & stat.S_IXOTH for p in data_dir.parents):
        return data_dir
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path("/tmp") / f"clerk-mirror-postgres-{digest}"  # noqa: S108  # see docstring


def _initdb(
    bindir: Path, home: Path, runas: list[str], user: pwd.struct_passwd | None, password: str
) -> None:
    if home.exists() and any(home.iterdir()):
        raise ServiceError(f"{home} is not empty and holds no Postgres cluster: move it away")
    # initdb into a staging directory and rename it: a crash half-way leaves no half cluster.
    staging = home.with_name(home.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    # initdb reads the superuser's password from a file, never an argument (which every
    # local account can read): one in a directory only initdb's user may enter.
    private = Path(tempfile.mkdtemp(prefix="clerk-mirror-initdb-"))
    pwfile = private / "password"
    passwords.keep(pwfile, password)
    if user is not None:
        for path in (staging, private, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
    options = ["-U", "postgres", "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8"]
    options += ["--locale=C", "--no-instructions"]
    try:
        _run([*runas, str(bindir / "initdb"), "-D", str(staging), *options], f"initdb {staging}")
    finally:
        shutil.rmtree(private, ignore_errors=True)
    with (staging / "postgresql.conf").open("a") as conf:
        conf.write(POSTGRES_CONF)
    if home.exists():
        home.rmdir()
    staging.rename(home)


def _secure(home: Path, kept: Path, port: int) -> str:
    """Give a cluster that an older make run made, trusting every local account, a password
    and a pg_hba.conf that asks for it; return the password."""
    open_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    password = passwords.make()
    with psycopg.connect(open_url, autocommit=True) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(password)))
        passwords.keep(kept, password)
        (home / "pg_hba.conf").write_text(PG_HBA)
        conn.execute("SELECT pg_reload_conf()")
    # The reload is a signal: wait until the server asks for the password.
    _wait_until(
        lambda: not postgres_answers(open_url),
        "postgres asking for a password",
        home / "server.log",
    )
    return password


def start_postgres(data_dir: Path, port: int | None = None) -> Service:
    """Postgres on loopback for data_dir; its superuser's password is kept beside it."""
    user = _postgres_user()
    runas = [] if user is None else ["runuser", "-u", "postgres", "--"]
    data_dir = data_dir.resolve()
    home = _postgres_home(data_dir, user)
    version_file = home / "PG_VERSION"
    version = version_file.read_text().strip() if version_file.exists() else None
    bindir = devbinaries.postgres_bindir(version)
    kept = passwords.kept_beside(data_dir)
    password = passwords.read(kept) if version is not None else None
    if version is None:
        password = passwords.new(kept)
        _initdb(bindir, home, runas, user, password)
    if password is not None:
        (home / "pg_hba.conf").write_text(PG_HBA)  # as it is, even if someone opened it
    _stop_orphan(home / "postmaster.pid", home, signal.SIGINT)
    port = port or free_port()
    log = home / "server.log"
    pg_ctl = [*runas, str(bindir / "pg_ctl"), "start", "-w", "-t", str(int(START_TIMEOUT))]
    _run([*pg_ctl, "-D", str(home), "-l", str(log), "-o", f"-p {port}"], "pg_ctl start", log)
    if password is None:
        password = _secure(home, kept, port)
    url = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
    # pg_ctl -w returns once the server is ready; this only covers a slow first login.
    _wait_until(lambda: postgres_answers(url), f"postgres on port {port}", log)
    pid = int((home / "postmaster.pid").read_text().split()[0])
    # SIGINT is Postgres's fast shutdown: clients are cut, a checkpoint is written, done.
    return Service("postgres", url, pid, home, signal.SIGINT)


def start_redis(data_dir: Path, port: int | None = None) -> Service:
    """Redis on loopback for data_dir, asking for the password kept beside it."""
    home = data_dir.resolve()
    _make_dirs(home)
    kept = passwords.kept_beside(home)
    password = passwords.read(kept) or passwords.new(kept)
    pidfile, log = home / "redis.pid", home / "redis.log"
    _stop_orphan(pidfile, home, signal.SIGTERM)
    port = port or free_port()
    options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "yes"]
    files = ["--pidfile", str(pidfile), "--dir", str(home), "--logfile", str(log)]
    # "-": the rest of the configuration (the password) from stdin, not the command line.
    argv = [str(devbinaries.redis_server()), "-", "--port", str(port), *options, *files]
    _run(argv, "redis", log, stdin=f"requirepass {password}\n")
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    _wait_until(lambda: pidfile.exists() and redis_answers(url), f"redis on port {port}", log)
    return Service("redis", url, int(pidfile.read_text().split()[0]), home, signal.SIGTERM)


def create_database(url: str, name: str) -> str:
    """Create database `name` on the server at url unless it exists; return its url."""
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{url.rsplit('/', 1)[0]}/{name}"


def ensure_services(
    data_dir: Path, environ: Mapping[str, str]
) -> tuple[dict[str, str], list[Service]]:
    """Start what DATABASE_URL/REDIS_URL do not name; return the env to add and what started."""
    additions: dict[str, str] = {}
    started: list[Service] = []
    try:
        if not environ.get("DATABASE_URL"):
            started.append(start_postgres(data_dir / "postgres"))
            additions["DATABASE_URL"] = create_database(started[-1].url, DATABASE)
        if not environ.get("REDIS_URL"):
            started.append(start_redis(data_dir / "redis"))
            additions["REDIS_URL"] = started[-1].url
    except BaseException:
        for service in reversed(started):
            service.stop()
        raise
    return additions, started
