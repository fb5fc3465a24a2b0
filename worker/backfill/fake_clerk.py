"""A local fake of Clerk's Backend API users endpoints, for tests and demos.

    python -m worker.fake_clerk --port 18081 --users 1000 --key sk_test_fake

serves /v1/users, /v1/users/count and /v1/users/{id} on loopback with the bearer key
checked, paging like Clerk by limit with offset or with the starting_after cursor, and
can answer 429s, 5xx and slow pages, or delete users while a listing runs (after_page).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from worker.backfill.fake_users import generate_users

MAX_LIMIT = 500
# The orders starting_after accepts: a cursor over any other would skip or repeat users.
CURSOR_ORDERS = frozenset({"created_at", "+created_at", "-created_at"})


class FakeClerk:
    """The fake server; change `users`, `faults`, `fail_from`, `after_page` and `slow_s` at will."""

    def __init__(
        self,
        users: Iterable[dict[str, Any]] = (),
        *,
        key: str = "sk_test_fake",
        port: int = 0,
        slow_s: float = 0.0,
        frozen: bool = False,
    ) -> None:
        self.key, self.slow_s = key, slow_s
        # Users that never change (python -m worker.fake_clerk): each is encoded once, up
        # front, and a page is their bytes joined. Clerk answers from other machines, so a
        # benchmark's fake should not spend the client's cores encoding every page.
        self.frozen = frozen
        self.lock = threading.Lock()
        self.users = list(users)
        self.faults: deque[int] = deque()  # statuses to answer, one per coming request
        self.retry_after = "1"
        self.fail_from: int | None = None  # pages from this position on fail, always
        self.fail_status = 503
        self.requests: list[str] = []
        self.pages_served = 0
        # Called with pages_served after each page of GET /v1/users (to delete users, say).
        self.after_page: Callable[[int], None] | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.server.daemon_threads = True
        self.server.fake = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def users(self) -> list[dict[str, Any]]:
        return self._users

    @users.setter
    def users(self, users: list[dict[str, Any]]) -> None:
        """A new list of users (a test may also change a user's fields in place, but
        not its created_at or id, which order the listing: modify() does that)."""
        self._users = users
        # The listing's order and each id's place in it, kept until the users change:
        # sorting a big list for every page made the fake, not the client, the bound.
        self._sorted: tuple[int, list[dict[str, Any]], dict[str, int]] | None = None
        # Frozen: each user's JSON by id() of its object.
        self._encoded = {id(u): json.dumps(u).encode() for u in users} if self.frozen else {}

    def _ordered(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """The users by created_at (then id), and each id's position; under the lock."""
        cached = self._sorted
        if cached is None or cached[0] != len(self._users):
            ordered = sorted(self._users, key=lambda u: (u["created_at"], u["id"]))
            cached = (len(self._users), ordered, {u["id"]: i for i, u in enumerate(ordered)})
            self._sorted = cached
        return cached[1], cached[2]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeClerk:
        self.thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()

    def remove(self, user_ids: Iterable[str]) -> None:
        gone = set(user_ids)
        with self.lock:
            self.users = [u for u in self._users if u["id"] not in gone]

    def modify(self, user_id: str, **changes: Any) -> dict[str, Any]:
        """Change a user's fields; its updated_at moves forward as in Clerk."""
        with self.lock:
            user = next(u for u in self._users if u["id"] == user_id)
            user.update(changes, updated_at=changes.get("updated_at", user["updated_at"] + 1000))
            self._sorted = None
            return user

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(path)
            if self.faults:
                return self.faults.popleft(), {"errors": [{"code": "injected_fault"}]}
            users, places = self._ordered()
        if path == "/v1/users/count":
            return 200, {"object": "total_count", "total_count": len(users)}
        if path.startswith("/v1/users/"):
            place = places.get(path.removeprefix("/v1/users/"))
            if place is None:
                return 404, {"errors": [{"code": "resource_not_found"}]}
            return 200, users[place]
        if path != "/v1/users":
            return 404, {"errors": [{"code": "resource_not_found"}]}
        status, body = self.list_page(users, query, places)
        if status == 200:
            with self.lock:
                self.pages_served += 1
                served = self.pages_served
            time.sleep(self.slow_s)
            if self.after_page:
                self.after_page(served)
            if self._encoded:
                return status, Encoded(b"[" + b",".join(self._encoded[id(u)] for u in body) + b"]")
        return status, body

    def list_page(
        self,
        users: list[dict[str, Any]],
        query: dict[str, list[str]],
        places: dict[str, int] | None = None,
    ) -> tuple[int, Any]:
        """GET /v1/users on users sorted by created_at: Clerk's rules for limit and cursor.

        places is each id's position in users, when the caller has it."""
        limit, offset = int(query.get("limit", ["10"])[0]), int(query.get("offset", ["0"])[0])
        order, after = query.get("order_by", ["-created_at"])[0], query.get("starting_after")
        if not 1 <= limit <= MAX_LIMIT:
            return 422, _invalid("limit")
        if after and (order not in CURSOR_ORDERS or offset):
            return 422, _invalid("starting_after")
        if places is None:
            places = {u["id"]: i for i, u in enumerate(users)}
        if order.startswith("-"):  # other orders than created_at are not faked
            users = users[::-1]
        if after:
            # Clerk's spec does not say what a cursor naming a deleted user gets: refused here.
            place = places.get(after[0])
            if place is None:
                return 422, _invalid("starting_after")
            offset = (place if not order.startswith("-") else len(users) - 1 - place) + 1
        if self.fail_from is not None and offset >= self.fail_from:
            return self.fail_status, {"errors": [{"code": "injected_outage"}]}
        return 200, users[offset : offset + limit]


class Encoded(bytes):
    """An answer's JSON, encoded already."""


def _invalid(param: str) -> dict[str, Any]:
    return {"errors": [{"code": "form_param_value_invalid", "meta": {"param_name": param}}]}


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_GET(self) -> None:
        fake: FakeClerk = self.server.fake  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        if self.headers.get("Authorization") != f"Bearer {fake.key}":
            status, body = 401, {"errors": [{"code": "authentication_invalid"}]}
        else:
            status, body = fake.answer(parts.path, parse_qs(parts.query))
        raw = body if isinstance(body, Encoded) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if status == 429:
            self.send_header("Retry-After", fake.retry_after)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:  # stdlib's name
        """Quiet: tests and demos have their own output."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18081)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--key", default="sk_test_fake")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slow", type=float, default=0.0, help="seconds to wait per page")
    args = parser.parse_args()
    fake = FakeClerk(
        generate_users(args.users, args.seed),
        key=args.key,
        port=args.port,
        slow_s=args.slow,
        frozen=True,
    )
    print(f"fake Clerk Backend API on {fake.url} (CLERK_SECRET_KEY={args.key})", flush=True)
    try:
        fake.server.serve_forever()
    except KeyboardInterrupt:
        fake.server.server_close()


if __name__ == "__main__":
    main()
