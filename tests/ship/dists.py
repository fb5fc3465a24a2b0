"""What ships, built as a user gets it: sdist and wheel of the committed tree, and a wheelhouse.

The wheelhouse holds the wheels of every dependency (and of the build backend), kept under
.data/wheelhouse/ in a folder named after what it was made for, so that a run after the
first installs without the network and a change of dependencies makes a new one.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
WHEELHOUSES = ROOT / ".data" / "wheelhouse"


@dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path


def run(
    argv: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> str:
    """Run a build step; a failure raises with its output, which is the useful part."""
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def committed_tree(dest: Path) -> Path:
    """HEAD's files alone: nothing untracked or uncommitted can make the build pass."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "HEAD"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True, timeout=60)
    return dest


def build(tree: Path, out: Path) -> Dists:
    """The sdist, then the wheel built from that sdist (as `python -m build` does)."""
    # --no-isolation: the build backend comes from this environment, not from the network.
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(tree)])
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dists(wheel=wheel, sdist=sdist)


def twine_check(dists: Dists) -> str:
    return run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dists.wheel), str(dists.sdist)]
    )


def requirements(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist lines without the optional extras: what users install."""
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = HeaderParser().parsestr(zf.read(name).decode())
    return sorted(r for r in metadata.get_all("Requires-Dist", []) if "extra ==" not in r)


def build_requirements() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        required: list[str] = tomllib.load(f)["build-system"]["requires"]
    return sorted(required)


def wheelhouse(
    wheel: Path, target: str = "", make: Callable[[Path, list[str]], None] | None = None
) -> Path:
    """Wheels for the wheel's dependencies and the build backend, made once per their list.

    By default for this interpreter, with this environment's pip. target names another
    interpreter (its version and platform: environment markers differ, e.g. redis needs
    async-timeout below Python 3.11.3), and make(folder, requirements) fills the folder.
    """
    wanted = [*requirements(wheel), *build_requirements()]
    target = target or f"{platform.python_version()}-{sysconfig.get_platform()}"
    key = hashlib.sha256("\n".join([target, *wanted]).encode()).hexdigest()[:16]
    house = WHEELHOUSES / key
    if (house / ".complete").exists():
        return house
    staging = WHEELHOUSES / f".{key}.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if make is None:
        run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(staging), *wanted])
    else:
        make(staging, wanted)
    (staging / ".complete").touch()
    try:
        staging.rename(house)
    except OSError:  # a concurrent run made it first: theirs is as good
        shutil.rmtree(staging, ignore_errors=True)
    return house


def fresh_venv(where: Path, wheel: Path, house: Path) -> Path:
    """A new virtual environment with the wheel installed from files only; returns its bin.

    This environment's pip installs into the new one (--python), which so needs no pip of
    its own; --no-compile because byte-compiling every dependency is most of an install's
    time, and Python compiles what it imports anyway.
    """
    run([sys.executable, "-m", "venv", "--without-pip", str(where)])
    pip = [sys.executable, "-m", "pip", "--python", str(where / "bin" / "python"), "install"]
    offline = ["-q", "--no-compile", "--no-index", "--find-links", str(house)]
    run([*pip, *offline, str(wheel)], env={**os.environ, "PIP_CONFIG_FILE": os.devnull})
    return where / "bin"


def shipped_modules(wheel: Path) -> list[str]:
    """Every Python module in the wheel, as a dotted name."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(".py")]
    modules = [n.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for n in names]
    return sorted(modules)
