"""Run a command with dev Postgres and Redis around it: `python -m worker.dev run`."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from worker.dev.passwords import redacted
from worker.dev.services import ensure_services

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m worker.dev",
        description="Start Postgres and Redis unless DATABASE_URL/REDIS_URL name running ones.",
    )
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run CMD with DATABASE_URL and REDIS_URL set, then stop what was started"
    )
    run.add_argument("--data", type=Path, default=Path(".data"), help="where servers keep data")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    return top


def _exit_on_signal(signum: int, _: FrameType | None) -> None:
    # While services start, a signal must unwind through ensure_services, which stops them.
    raise SystemExit(128 + signum)


def run(data_dir: Path, cmd: Sequence[str]) -> int:
    for sig in FORWARDED:
        signal.signal(sig, _exit_on_signal)
    additions, services = ensure_services(data_dir, os.environ)
    try:
        for service in services:
            print(
                f"devservices: {service.name} at {redacted(service.url)} (pid {service.pid}, "
                f"data in {service.home})",
                file=sys.stderr,
                flush=True,
            )
        # The command gets a process group of its own so that each signal reaches it once:
        # from us, not also from the terminal. It should not read the terminal.
        child = subprocess.Popen(cmd, env={**os.environ, **additions}, process_group=0)

        def forward(signum: int, _: FrameType | None) -> None:
            with contextlib.suppress(ProcessLookupError):  # the group may be gone already
                os.killpg(child.pid, signum)

        for sig in FORWARDED:
            signal.signal(sig, forward)
        code = child.wait()
        return 128 - code if code < 0 else code
    finally:
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        for service in reversed(services):
            service.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser().error("run needs a command after --")
    return run(args.data, cmd)
