"""What one event costs on a number thousands hold, against one that ten hold.

    python -m bench.busy_number [HOLDERS] [ROUNDS]

On a fresh database (DATABASE_URL's server, else the local one), HOLDERS users (default
19,000) hold one number and 10 others another, one phone each: a test number that an
app's test suite signs up with holds thousands. Then events are applied one at a time, as
a paced load applies them, on each number in turns, ROUNDS times each (default 5): a new
holder, a holder deleted after two others were, and a new holder after those deletions.
Prints, for each, the median milliseconds of the apply (claim to commit) and the mean
CPU of its Postgres backend, on the busy number and the small one, and their ratio.
Every holder is kept in the number's row of `clerk.phone_number_sharing`, so some cost
grows with them.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

import psycopg

from bench import db, payloads
from bench.batch_cost import cpu_ms
from worker.db import connect
from worker.mirror.apply import apply_pending

BUSY, SMALL = "+447700900555", "+447700900556"
SMALL_HOLDERS = 10
MINUTE_MS = 60_000


class Mirror:
    """Events into the inbox and applied, each at a later minute than the one before."""

    def __init__(self) -> None:
        self.minute = 0
        self.seq = 0

    def next_ms(self) -> int:
        self.minute += 1
        return payloads.BASE_MS + self.minute * MINUTE_MS

    def holder(self, number: str, uid: str) -> tuple[str, bytes]:
        at = self.next_ms()
        body = payloads.user_event(uid, 0)
        phone = body["data"]["phone_numbers"][0]
        phone.update(phone_number=number, created_at=at, updated_at=at)
        body["data"].update(phone_numbers=[phone], updated_at=at, last_active_at=at)
        body["timestamp"] = at + 5
        return self.event(body)

    def deletion(self, uid: str) -> tuple[str, bytes]:
        body = payloads.user_event(uid, 1, event_type="user.deleted")
        body["timestamp"] = self.next_ms()
        return self.event(body)

    def event(self, body: dict[str, Any]) -> tuple[str, bytes]:
        self.seq += 1
        return f"msg_busy_{self.seq}", json.dumps(body).encode()


def fill(url: str, events: list[tuple[str, bytes]]) -> None:
    db.load_inbox(url, events)
    with connect(url) as conn:
        while apply_pending(conn, limit=500).claimed:
            conn.commit()
        conn.commit()


def one(url: str, conn: psycopg.Connection, event: tuple[str, bytes]) -> tuple[float, float]:
    """Milliseconds and backend CPU ms of applying one stored event."""
    db.load_inbox(url, [event])
    backend = conn.info.backend_pid
    cpu = cpu_ms(backend)
    started = time.perf_counter()
    result = apply_pending(conn, limit=1)
    conn.commit()
    ms = (time.perf_counter() - started) * 1000
    assert result.claimed == 1, result
    return ms, cpu_ms(backend) - cpu


def measure(url: str, holders: int, rounds: int) -> dict[str, Any]:
    mirror = Mirror()
    numbers = {"busy": (BUSY, holders), "small": (SMALL, SMALL_HOLDERS)}
    users = {name: [f"user_{name}_{i:06d}" for i in range(n)] for name, (_, n) in numbers.items()}
    fill(url, [mirror.holder(numbers[name][0], uid) for name in users for uid in users[name]])
    joined = {name: 0 for name in numbers}

    def join(name: str) -> tuple[str, bytes]:
        joined[name] += 1
        return mirror.holder(numbers[name][0], f"user_{name}_new_{joined[name]:04d}")

    deleted = {name: 0 for name in numbers}

    def delete(name: str) -> tuple[str, bytes]:
        deleted[name] += 1
        return mirror.deletion(users[name][deleted[name]])

    out: dict[str, Any] = {"holders": holders, "small_holders": SMALL_HOLDERS}
    with connect(url) as conn:
        steps = [("join", join), ("first_two_deletions", delete), ("delete", delete),
                 ("join_after_deletions", join)]  # fmt: skip
        for step, make in steps:
            count = 2 if step == "first_two_deletions" else rounds
            taken: dict[str, list[tuple[float, float]]] = {name: [] for name in numbers}
            for _ in range(count):
                for name in numbers:
                    taken[name].append(one(url, conn, make(name)))
            row = {}
            for name in numbers:
                row[f"{name}_ms"] = round(statistics.median(t[0] for t in taken[name]), 2)
                # /proc counts CPU in ticks of 10 ms: the mean over the rounds
                row[f"{name}_cpu_ms"] = round(sum(t[1] for t in taken[name]) / count, 1)
            row["ratio"] = round(row["busy_ms"] / row["small_ms"], 2)
            out[step] = row
        kept = conn.execute(
            "SELECT live_users, deleted_users, reheld_users FROM clerk.phone_number_sharing"
            " WHERE phone_number = %s",
            (BUSY,),
        ).fetchone()
    assert kept == (holders + 2 * rounds - 2 - rounds, 2 + rounds, rounds), kept
    return out


def main() -> None:
    holders = int(sys.argv[1]) if len(sys.argv) > 1 else 19_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    db.print_measured(lambda url: measure(url, holders, rounds))


if __name__ == "__main__":
    main()
