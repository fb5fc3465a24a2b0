"""A well-behaved client of Clerk's Backend API: rate limited, retrying, with clear errors."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NamedTuple

import httpx

from worker.config import ConfigError
from worker.mirror import strict_json

PAGE_LIMIT = 500
MAX_ATTEMPTS = 6
MAX_WAIT_S = 60.0

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class ClerkAuthError(ConfigError):
    """Clerk refused the key (401/403): the operator has to fix CLERK_SECRET_KEY."""


class ClerkAPIError(RuntimeError):
    """Clerk could not answer, even after retries; `status` is that of a refusal (4xx)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Listed(NamedTuple):
    """A user of a listed page: as parsed, and its JSON as the page wrote it, which the
    inbox keeps (None: encode the user anew). `refused` says why Postgres's jsonb would
    refuse that JSON (the webhooks' rule, worker.mirror.strict_json); None when it would not.
    """

    user: Any
    text: str | None = None
    refused: str | None = None


def listed(text: str) -> list[Listed]:
    """The users of a page's JSON text; ValueError (or RecursionError) if not an array."""
    return [Listed(*element) for element in strict_json.elements(text)]


class TokenBucket:
    """At most `requests` per `seconds` on average, with bursts of one second's worth.

    A burst of a whole window would let a sliding window see almost twice the limit;
    one second's worth keeps any window of `seconds` under requests * (1 + 1/seconds).
    """

    def __init__(
        self,
        requests: int,
        seconds: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.rate = requests / seconds
        self.capacity = max(1.0, self.rate)
        self.tokens = self.capacity
        self.clock, self.sleep = clock, sleep
        self.last = clock()

    def acquire(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            self.sleep((1 - self.tokens) / self.rate)
            self.tokens, self.last = 1.0, self.clock()
        self.tokens -= 1


class ClerkClient:
    """GET requests to the Backend API; the caller closes it (or uses `with`)."""

    def __init__(
        self,
        base_url: str,
        secret_key: str,
        *,
        # Below Clerk's production limit of 1000 per 10 s (development instances: 100).
        rate_limit: tuple[int, float] | None = (900, 10),
        max_attempts: int = MAX_ATTEMPTS,
        backoff_s: float = 0.5,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        timeout_s: float = 30.0,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {secret_key}", "User-Agent": "clerk-phone-mirror"},
        )
        self.bucket = TokenBucket(*rate_limit, clock=clock, sleep=sleep) if rate_limit else None
        self.max_attempts, self.backoff_s, self.sleep = max_attempts, backoff_s, sleep

    def __enter__(self) -> ClerkClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def list_users(self, after: str | None, limit: int = PAGE_LIMIT) -> list[Any]:
        """The page of users created after the user `after` (None: from the first user).

        A cursor, not an offset: a deletion of a user listed earlier shifts every later
        offset, so offset paging skips a user; the cursor needs the created_at order.
        """
        return [user for user, _, _ in self.list_page(after, limit)]

    def list_page(self, after: str | None, limit: int = PAGE_LIMIT) -> list[Listed]:
        """list_users, each user with its JSON as Clerk wrote it."""
        params: dict[str, Any] = {"limit": limit, "order_by": "created_at"}
        if after is not None:
            params["starting_after"] = after
        response = self.get("/users", params)
        try:
            return listed(response.content.decode("utf-8-sig"))
        except (ValueError, RecursionError):
            pass
        page = _json(response, "/users")  # not JSON at all: says so
        raise ClerkAPIError(
            f"GET /users answered an unexpected shape ({_shape(page)}), not a list of users"
        )

    def count_users(self) -> int:
        body = _json(self.get("/users/count"), "/users/count")
        total = body.get("total_count") if isinstance(body, dict) else None
        if not isinstance(total, int) or isinstance(total, bool):
            raise ClerkAPIError(
                f"GET /users/count answered an unexpected shape ({_shape(body)}),"
                ' not {"total_count": N}'
            )
        return total

    def user_exists(self, user_id: str) -> bool:
        """True unless Clerk answers 404 for the user: what reconciliation double-checks."""
        return self.get(f"/users/{user_id}", allow_404=True).status_code != httpx.codes.NOT_FOUND

    def get(
        self, path: str, params: dict[str, Any] | None = None, *, allow_404: bool = False
    ) -> httpx.Response:
        """GET with retries: 429 waits Retry-After, 5xx and connection errors back off."""
        problem, wait = "", 0.0
        for attempt in range(self.max_attempts):
            if attempt:
                self.sleep(wait)
            if self.bucket:
                self.bucket.acquire()
            backoff = min(MAX_WAIT_S, self.backoff_s * 2**attempt)
            try:
                response = self.http.get(path, params=params)
            except httpx.TransportError as exc:
                problem, wait = f"{type(exc).__name__}: {exc}", backoff
                continue
            if _final(response, path, allow_404=allow_404):
                return response
            problem = f"HTTP {response.status_code}"
            wait = retry_after_s(response, backoff) if response.status_code == 429 else backoff
        raise ClerkAPIError(f"GET {path} failed after {self.max_attempts} attempts ({problem})")


def _final(response: httpx.Response, path: str, *, allow_404: bool) -> bool:
    """True for an answer to hand back, False for one worth retrying; raises for the rest."""
    status = response.status_code
    if status in (401, 403):
        raise ClerkAuthError(_auth_message(response))
    if response.is_success or (allow_404 and status == 404):
        return True
    if status == 429 or status >= 500:
        return False
    raise ClerkAPIError(f"GET {path} answered {status}: {response.text[:200]}", status=status)


def _json(response: httpx.Response, path: str) -> Any:
    """The answer's JSON, or an error saying it was not JSON (a proxy's page, a wrong URL)."""
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type") or "no content type"
        raise ClerkAPIError(
            f"GET {path} answered HTTP {response.status_code} that is not JSON ({kind});"
            " is CLERK_API_URL the Backend API, e.g. https://api.clerk.com/v1?"
        ) from None


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return "an object with " + (", ".join(sorted(map(str, value))[:5]) or "no keys")
    return type(value).__name__


def retry_after_s(response: httpx.Response, default: float) -> float:
    """Seconds to wait from Retry-After (seconds or an HTTP date), bounded to a minute."""
    value = response.headers.get("Retry-After", "")
    try:
        wait = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            wait = (when - datetime.now(tz=UTC)).total_seconds()
        except (TypeError, ValueError):
            wait = default
    return min(MAX_WAIT_S, max(0.0, wait))


def _auth_message(response: httpx.Response) -> str:
    verb = "rejected" if response.status_code == 401 else "is not allowed to list users with"
    return (
        f"Clerk {verb} the key (HTTP {response.status_code}): check CLERK_SECRET_KEY "
        "(an sk_live_... or sk_test_... secret key of this instance)"
    )
