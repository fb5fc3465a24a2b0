"""Latency: a steady paced load through web and worker; time from 2xx to applied."""

from __future__ import annotations

import http.client
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench import payloads, procs
from tests.support.processes import free_port, running, wait_for, web_ready, worker_argv
from worker.db import connect

# Inbox timing of the run's events: received (committed before the 2xx) to applied.
APPLIED = """
SELECT extract(epoch FROM processed_at - received_at) * 1000
FROM clerk.webhook_events WHERE svix_id = ANY(%(ids)s) AND status = 'processed'
"""
PENDING = "SELECT count(*) FROM clerk.webhook_events WHERE status = 'pending'"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def _sender(port: int, jobs: queue.Queue[Any], results: list[tuple[float, int]]) -> None:
    # http.client, not httpx: the pacer must cost the machine as little as possible.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while (job := jobs.get()) is not None:
        due, headers, body = job
        time.sleep(max(0.0, due - time.perf_counter()))
        conn.request("POST", "/webhooks/clerk", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        # Measured from when the request was due, so a stalled sender is not hidden.
        results.append(((time.perf_counter() - due) * 1000, response.status))
    conn.close()


def paced(
    port: int, rate: int, seconds: int, threads: int = 32
) -> tuple[list[str], list[tuple[float, int]]]:
    requests = list(payloads.signed_requests(uuid.uuid4().hex[:8], rate * seconds))
    jobs: queue.Queue[Any] = queue.Queue()
    results: list[tuple[float, int]] = []
    workers = [threading.Thread(target=_sender, args=(port, jobs, results)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    start = time.perf_counter() + 0.2
    for i, (headers, body) in enumerate(requests):
        jobs.put((start + i / rate, headers, body))
    for _ in workers:
        jobs.put(None)
    for worker in workers:
        worker.join()
    return [h["svix-id"] for h, _ in requests], results


def run(env: dict[str, str], work: Path, *, rate: int, seconds: int) -> dict[str, Any]:
    url, port = env["DATABASE_URL"], free_port()
    base = f"http://127.0.0.1:{port}"
    web = procs.gunicorn_argv("webhooks:create_app()", port)
    worker = worker_argv(env["CLERK_MIRROR_QUEUE"])
    with (
        running(web, env, work / "web-latency.log") as web_proc,
        running(worker, env, work / "worker-latency.log") as worker_proc,
    ):
        wait_for(web_ready(base), 30, "web")
        procs.wait_for_line(work / "worker-latency.log", "ready.")
        rss = {"web": procs.RssPeak(web_proc.pid), "worker": procs.RssPeak(worker_proc.pid)}
        sampler_stop = threading.Event()

        def sample() -> None:
            while not sampler_stop.wait(1.0):
                for r in rss.values():
                    r.sample()

        sampler = threading.Thread(target=sample)
        sampler.start()
        ids, results = paced(port, rate, seconds)
        sampler_stop.set()
        sampler.join()
        with connect(url, autocommit=True) as conn:
            wait_for(lambda: conn.execute(PENDING).fetchone() == (0,), 60, "all applied")
            applied = [float(r[0]) for r in conn.execute(APPLIED, {"ids": ids})]
    client_ms = [ms for ms, _ in results]
    return {
        "sent": len(results),
        "non_2xx": sum(1 for _, status in results if not 200 <= status < 300),
        "applied": len(applied),
        "client_p50_ms": percentile(client_ms, 50),
        "client_p99_ms": percentile(client_ms, 99),
        "applied_p50_ms": percentile(applied, 50),
        "applied_p99_ms": percentile(applied, 99),
        "rss_mb": {
            name: {"first": r.first, "last": r.last, "peak": r.peak} for name, r in rss.items()
        },
    }
