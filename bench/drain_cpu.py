"""What draining a backlog costs the worker and its Postgres backend, in CPU seconds.

    python -m bench.drain_cpu [USERS] [EVENTS_PER_USER]

On a fresh database (DATABASE_URL's server, else the local one), a backlog of USERS users
with EVENTS_PER_USER events each (default 10,000 x 5) is applied in this process the way
a drain task applies it (batches of tasks.BATCH_USERS, a commit each). Prints the wall
time, this process's CPU and its backend's (read from /proc, so the server must run on
this machine), and the backend's CPU by phase: the claim, the batch's writes after the
fold (one pipeline), the commit, and the rest (the reads, COPY into the stages). On a
machine others load, the CPU seconds are steadier than the wall time.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench import db, payloads
from bench.batch_cost import cpu_ms
from worker.db import connect
from worker.inbox import claim
from worker.mirror import bulk
from worker.mirror.apply import apply_pending
from worker.tasks import BATCH_USERS


class Phases:
    """Backend CPU milliseconds spent inside the wrapped functions, by name."""

    def __init__(self) -> None:
        self.backend = 0
        self.ms: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = cpu_ms(self.backend)
            try:
                return fn(*args, **kwargs)
            finally:
                self.ms[name] = self.ms.get(name, 0.0) + cpu_ms(self.backend) - started

        return timed


def measure(url: str, users: int, per_user: int) -> dict[str, Any]:
    db.load_inbox(url, payloads.user_history(uuid.uuid4().hex[:6], users, per_user))
    phases = Phases()
    claim_pending, send = claim.claim_pending, bulk.Tail.send
    claim.claim_pending = phases.wrap("claim", claim_pending)
    bulk.Tail.send = phases.wrap("writes", send)  # type: ignore[method-assign]
    try:
        with connect(url) as conn:
            conn.execute("ANALYZE")
            conn.commit()
            phases.backend = backend = conn.info.backend_pid
            commit = phases.wrap("commit", conn.commit)
            client, server, started = cpu_ms(), cpu_ms(backend), time.perf_counter()
            applied = 0
            while claimed := apply_pending(conn, limit=BATCH_USERS).claimed:
                commit()
                applied += claimed
            wall = time.perf_counter() - started
            client, server = cpu_ms() - client, cpu_ms(backend) - server
    finally:
        claim.claim_pending, bulk.Tail.send = claim_pending, send  # type: ignore[method-assign]
    by_phase = {name: round(ms / 1000, 2) for name, ms in phases.ms.items()}
    by_phase["rest"] = round((server - sum(phases.ms.values())) / 1000, 2)
    return {
        "events": applied,
        "wall_s": round(wall, 2),
        "events_per_s": round(applied / wall),
        "client_cpu_s": round(client / 1000, 2),
        "backend_cpu_s": round(server / 1000, 2),
        "backend_cpu_s_by_phase": by_phase,
        "load": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    per_user = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    db.print_measured(lambda url: measure(url, users, per_user))


if __name__ == "__main__":
    main()
