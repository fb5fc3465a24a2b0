"""Run inside the client host: send signed events as Svix does, or scrape URLs.

    python -m tests.system.burst send EVENTS URL OUT PROGRESS --rate N --deadline S
    python -m tests.system.burst scrape URL...

send: each event is POSTed, freshly signed (same svix-id, new timestamp) on every try,
until a 2xx or the deadline; a non-2xx answer or a failed connection is retried with a
backoff, as Svix retries. First tries are paced at --rate per second. OUT gets, per
svix-id, the final status, the tries and what the failed ones got; PROGRESS the number of
events settled so far, rewritten as it grows.

scrape: prints {url: body or null} as JSON. The secret comes from CLERK_WEBHOOK_SIGNING_SECRET.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from svix.webhooks import Webhook

THREADS = 12


def headers(secret: str, msg_id: str, body: str) -> dict[str, str]:
    now = datetime.now(tz=UTC)
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": Webhook(secret).sign(msg_id, now, body),
        "content-type": "application/json",
    }


class Sender:
    def __init__(self, url: str, secret: str, rate: float, deadline_s: float) -> None:
        self.url, self.secret, self.rate = url, secret, rate
        self.start = time.monotonic()
        self.deadline = self.start + deadline_s
        self.local = threading.local()
        self.lock = threading.Lock()
        self.settled = 0

    def client(self) -> httpx.Client:
        if not hasattr(self.local, "client"):
            self.local.client = httpx.Client(timeout=10)
        client: httpx.Client = self.local.client
        return client

    def send(self, index: int, msg_id: str, body: str) -> dict[str, Any]:
        delay = self.start + index / self.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        failures: list[str] = []
        backoff = 0.1
        status = 0
        while time.monotonic() < self.deadline:
            try:
                answer = self.client().post(
                    self.url, content=body, headers=headers(self.secret, msg_id, body)
                )
                status = answer.status_code
            except httpx.HTTPError as exc:
                status = 0
                failures.append(type(exc).__name__)
            except Exception as exc:  # a sender bug must show in OUT, not hang the test
                status = 0
                failures.append(f"{type(exc).__name__}: {exc}")
            if 200 <= status < 300:
                break
            if status:
                failures.append(str(status))
            time.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
        with self.lock:
            self.settled += 1
        return {"status": status, "tries": len(failures) + 1, "failures": failures}


def write_atomically(path: Path, text: str) -> None:
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(text)
    os.replace(staging, path)


def send(args: argparse.Namespace) -> None:
    events: list[list[Any]] = json.loads(Path(args.events).read_text())
    sender = Sender(args.url, os.environ["CLERK_WEBHOOK_SIGNING_SECRET"], args.rate, args.deadline)
    progress = Path(args.progress)
    done = threading.Event()

    def report() -> None:
        while not done.wait(0.1):
            write_atomically(progress, str(sender.settled))

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    with ThreadPoolExecutor(THREADS) as pool:
        futures = {
            msg_id: pool.submit(sender.send, i, msg_id, json.dumps(body))
            for i, (msg_id, body) in enumerate(events)
        }
        results = {msg_id: future.result() for msg_id, future in futures.items()}
    done.set()
    write_atomically(progress, str(sender.settled))
    write_atomically(Path(args.out), json.dumps(results))


def scrape(urls: list[str]) -> None:
    found: dict[str, str | None] = {}
    for url in urls:
        try:
            answer = httpx.get(url, timeout=5)
            found[url] = answer.text if answer.status_code == 200 else None
        except httpx.HTTPError:
            found[url] = None
    print(json.dumps(found))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    sending = commands.add_parser("send")
    for positional in ("events", "url", "out", "progress"):
        sending.add_argument(positional)
    sending.add_argument("--rate", type=float, default=150.0)
    sending.add_argument("--deadline", type=float, default=300.0)
    scraping = commands.add_parser("scrape")
    scraping.add_argument("urls", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "send":
        send(args)
    else:
        scrape(args.urls)


if __name__ == "__main__":
    main(sys.argv[1:])
