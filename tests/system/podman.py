"""podman as this machine runs it: runc, host networking only, explicit ulimits, no registry.

Debian's podman defaults to crun, which refuses this kind of machine's cgroups, and to
ulimits the machine refuses; images come from a local base (scripts/image-base).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

PODMAN = ["podman", "--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def podman(*args: str, timeout: float = 120, check: bool = True) -> str:
    done = subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def base_image() -> str:
    """The local base, built (or found) by scripts/image-base, unless one is named."""
    named = os.environ.get("CLERK_MIRROR_TEST_BASE_IMAGE")
    if named:
        return named
    script = Path(__file__).parent.parent.parent / "scripts" / "image-base"
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=900, check=True)
    return done.stdout.strip().splitlines()[-1]


def python_of(image: str) -> str:
    """The image's Python version and platform, as a wheelhouse is keyed."""
    out = podman(
        "run", "--rm", "--network", "host", *LIMITS, image, "python3", "-c",
        "import platform, sysconfig; "
        "print(platform.python_version() + '-' + sysconfig.get_platform())",
    )  # fmt: skip
    return out.strip()


def wheels_inside(image: str):  # type: ignore[no-untyped-def]
    """A wheelhouse maker that runs pip in the image itself, so markers see its Python.

    pip there reaches the package index only with this host's CA (the registries are
    reached through a TLS proxy that only the host trusts): mounted read-only for the run.
    """

    def make(folder: Path, wanted: list[str]) -> None:
        script = 'python3 -m venv /tmp/v && /tmp/v/bin/pip wheel -q --wheel-dir /out "$@"'
        podman(
            "run", "--rm", "--network", "host", *LIMITS,
            "-v", f"{HOST_CA}:/etc/ssl/certs/host-ca.crt:ro",
            "-e", "PIP_CERT=/etc/ssl/certs/host-ca.crt",
            "-e", "PIP_DISABLE_PIP_VERSION_CHECK=1",
            "-v", f"{folder}:/out", image, "sh", "-c", script, "pip", *wanted,
            timeout=600,
        )  # fmt: skip

    return make


def build(context: Path, tag: str, base: str, pip_args: str) -> None:
    podman(
        "build", "--network", "host", *LIMITS, "--format", "docker",
        "--build-arg", f"BASE_IMAGE={base}", "--build-arg", f"PIP_ARGS={pip_args}",
        "--tag", tag, str(context),
        timeout=900,
    )  # fmt: skip


def remove_containers(prefix: str) -> None:
    """Every container whose name starts with prefix, running or not (leftovers included)."""
    names = podman("ps", "--all", "--format", "{{.Names}}", check=False).split()
    mine = [name for name in names if name.startswith(prefix)]
    if mine:
        podman("rm", "--force", "--time", "5", *mine, check=False)


def prune_build_layers() -> None:
    """The untagged layers our builds left (the Dockerfile labels both stages)."""
    for title in ("clerk-phone-mirror", "clerk-phone-mirror-build"):
        label = f"label=org.opencontainers.image.title={title}"
        podman("image", "prune", "--force", "--filter", label, check=False)


def available() -> str | None:
    """Why podman cannot run here, or None."""
    if shutil.which("podman") is None or shutil.which("runc") is None:
        return "podman and runc are missing: `make test-image` installs them (as root)"
    return None
