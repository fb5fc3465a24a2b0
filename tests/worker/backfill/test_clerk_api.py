"""The Backend API client against the fake API over real HTTP: limits, retries, errors."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator

import pytest

from worker.backfill.clerk_api import (
    ClerkAPIError,
    ClerkAuthError,
    ClerkClient,
    TokenBucket,
)
from worker.backfill.fake_clerk import FakeClerk
from worker.backfill.fake_users import generate_users
from worker.config import ConfigError, parse_rate_limit

KEY = "sk_test_fake"


class FakeTime:
    """A clock that only moves when someone sleeps: timing without wall-clock flakiness."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> Iterator[FakeClerk]:
    with FakeClerk(generate_users(30, seed=7), key=KEY) as server:
        yield server


def client(fake: FakeClerk, time: FakeTime, **options: object) -> ClerkClient:
    return ClerkClient(fake.url, KEY, rate_limit=None, sleep=time.sleep, **options)  # type: ignore[arg-type]


def test_20_requests_at_10_per_second_take_one_second() -> None:
    time = FakeTime()
    bucket = TokenBucket(10, 1, clock=time.clock, sleep=time.sleep)
    starts = []
    for _ in range(20):
        bucket.acquire()
        starts.append(time.now)
    assert starts[:10] == [0.0] * 10
    assert starts[-1] == pytest.approx(1.0)
    assert all(b - a == pytest.approx(0.1) for a, b in itertools.pairwise(starts[9:]))


def test_bucket_refills_while_idle_but_never_beyond_one_seconds_worth() -> None:
    time = FakeTime()
    bucket = TokenBucket(900, 10, clock=time.clock, sleep=time.sleep)
    for _ in range(90):
        bucket.acquire()
    assert time.sleeps == []
    time.now += 3600
    for _ in range(91):
        bucket.acquire()
    assert sum(time.sleeps) == pytest.approx(1 / 90)


def test_client_limits_real_requests_to_the_configured_rate(fake: FakeClerk) -> None:
    time = FakeTime()
    with ClerkClient(fake.url, KEY, rate_limit=(5, 1), clock=time.clock, sleep=time.sleep) as api:
        for _ in range(10):
            api.count_users()
    assert len(fake.requests) == 10
    assert time.now == pytest.approx(1.0)


def test_rate_limit_setting_is_parsed_and_a_bad_one_names_the_variable() -> None:
    assert parse_rate_limit("90/10") == (90, 10.0)
    assert parse_rate_limit("off") is None
    with pytest.raises(ConfigError, match="CLERK_API_RATE_LIMIT"):
        parse_rate_limit("fast")
    with pytest.raises(ConfigError, match="--rate-limit"):
        parse_rate_limit("0/10", "--rate-limit")


def test_429_waits_retry_after_then_answers(fake: FakeClerk) -> None:
    time = FakeTime()
    fake.faults.extend([429, 429])
    fake.retry_after = "3"
    with client(fake, time) as api:
        page = api.list_users(None, 10)
    assert len(page) == 10
    assert time.sleeps == [3.0, 3.0]


def test_5xx_are_retried_with_exponential_backoff(fake: FakeClerk) -> None:
    time = FakeTime()
    fake.faults.extend([500, 502, 503])
    with client(fake, time, backoff_s=0.5) as api:
        assert api.count_users() == 30
    assert time.sleeps == [0.5, 1.0, 2.0]


def test_persistent_5xx_gives_up_after_bounded_attempts(fake: FakeClerk) -> None:
    time = FakeTime()
    fake.faults.extend([503] * 10)
    api = client(fake, time, max_attempts=4)
    with api, pytest.raises(ClerkAPIError, match="4 attempts"):
        api.count_users()
    assert len(fake.requests) == 4
    assert len(time.sleeps) == 3


def test_connection_errors_are_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    time = FakeTime()
    api = ClerkClient(f"http://127.0.0.1:{port}/v1", KEY, max_attempts=3, sleep=time.sleep)
    with api, pytest.raises(ClerkAPIError, match="ConnectError"):
        api.count_users()
    assert time.sleeps == [0.5, 1.0]


def test_bad_key_fails_at_once_naming_clerk_secret_key(fake: FakeClerk) -> None:
    time = FakeTime()
    api = ClerkClient(fake.url, "sk_test_wrong", rate_limit=None, sleep=time.sleep)
    with api, pytest.raises(ClerkAuthError, match="CLERK_SECRET_KEY"):
        api.list_users(None)
    assert len(fake.requests) == 0  # refused before the fake's handler counts it
    assert time.sleeps == []


def test_user_exists_is_false_only_for_a_404(fake: FakeClerk) -> None:
    with client(fake, FakeTime()) as api:
        assert api.user_exists(fake.users[0]["id"]) is True
        assert api.user_exists("user_gone") is False


def test_the_cursor_needs_the_created_at_order_and_no_offset(fake: FakeClerk) -> None:
    first = fake.users[0]["id"]
    with client(fake, FakeTime()) as api:
        for order in ("created_at", "+created_at", "-created_at"):
            assert api.get("/users", {"starting_after": first, "order_by": order}).is_success
        with pytest.raises(ClerkAPIError, match="422"):
            api.get("/users", {"starting_after": first, "order_by": "updated_at"})
        with pytest.raises(ClerkAPIError, match="422"):
            api.get("/users", {"starting_after": first, "order_by": "created_at", "offset": 5})
        with pytest.raises(ClerkAPIError, match="422"):
            api.list_users(None, 501)


def test_offset_paging_skips_a_user_when_listed_users_are_deleted_and_the_cursor_does_not(
    fake: FakeClerk,
) -> None:
    everyone = [u["id"] for u in fake.users]

    def delete_two_listed_users(pages: int) -> None:
        if pages in (1, 4):  # after the first page of each listing
            fake.remove(everyone[:2])

    fake.after_page = delete_two_listed_users
    with client(fake, FakeTime()) as api:
        by_offset = [
            u["id"]
            for offset in (0, 10, 20)
            for u in api.get(
                "/users", {"limit": 10, "offset": offset, "order_by": "created_at"}
            ).json()
        ]
        fake.users = generate_users(30, seed=7)
        by_cursor, after = [], None
        for _ in range(3):
            page = api.list_users(after, 10)
            by_cursor += [u["id"] for u in page]
            after = page[-1]["id"]

    assert set(everyone) - set(by_offset) == {everyone[10], everyone[11]}
    assert by_cursor == everyone
