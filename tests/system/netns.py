"""Hosts for the deployment test: network namespaces on one private bridge, made and removed here.

Every namespace's name starts with PREFIX, so a run removes what a crashed one left. The
bridge lives in a namespace of its own and this machine's own namespace is never attached:
the hosts reach each other and nothing else (none of them has a default route), and the
test reaches them only by running commands inside them, or through unix sockets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

PREFIX = "cpmd-"
SWITCH = "sw"
SUBNET = "10.231.7"
# host -> last octet of its address
HOSTS = {"lb": 2, "db": 10, "web1": 11, "web2": 12, "wk1": 21, "wk2": 22, "client": 100}


def name(host: str) -> str:
    return PREFIX + host


def address(host: str) -> str:
    return f"{SUBNET}.{HOSTS[host]}"


def ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def inside(host: str, argv: list[str]) -> list[str]:
    """argv, run inside host's namespace."""
    return ["ip", "netns", "exec", name(host), *argv]


def create() -> None:
    """The switch, then each host with one link to it, its address, and loopback."""
    sw = name(SWITCH)
    ip("netns", "add", sw)
    ip("-n", sw, "link", "set", "lo", "up")
    ip("-n", sw, "link", "add", "br0", "type", "bridge")
    ip("-n", sw, "link", "set", "br0", "up")
    for host in HOSTS:
        ns = name(host)
        ip("netns", "add", ns)
        port = f"p-{host}"
        ip("-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("-n", sw, "link", "set", port, "master", "br0")
        ip("-n", sw, "link", "set", port, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "addr", "add", f"{address(host)}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")


def cut(host: str) -> None:
    """Pull host's cable: its processes keep running, unreachable."""
    ip("-n", name(SWITCH), "link", "set", f"p-{host}", "down")


def reconnect(host: str) -> None:
    ip("-n", name(SWITCH), "link", "set", f"p-{host}", "up")


def pids(host: str) -> list[int]:
    try:
        return [int(p) for p in ip("netns", "pids", name(host)).split()]
    except RuntimeError:
        return []


def kill_all(host: str, timeout: float = 30) -> list[int]:
    """SIGKILL every process in host's namespace, and wait until none is left."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while (left := pids(host)) and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    if pids(host):
        raise RuntimeError(f"processes outlived SIGKILL in {name(host)}: {pids(host)}")
    return killed


def ours() -> list[str]:
    """This test's namespaces that exist now (a crashed run's included)."""
    listed = ip("netns", "list").split("\n")
    return [line.split()[0] for line in listed if line.startswith(PREFIX)]


def remove_all() -> None:
    """Kill every process in our namespaces, then delete them; safe to call at any time."""
    for ns in ours():
        kill_all(ns.removeprefix(PREFIX))
        ip("netns", "delete", ns)
