"""Finding 3: the log-in throttle lived in each process and was keyed by address.

Rotating source addresses gave an attacker 17 checked guesses a second; one who shared the
operator's address (a proxy, a NAT) kept the operator out: the right password got 429
eight times in a row. Now failures are counted per account and in total, in Redis (every
process and host shares them), never per address; and a browser that signed in before has
a budget of its own, so the operator gets in whatever an attacker does.

Two apps on one Redis stand for two web processes (or hosts): neither shares memory with
the other. Addresses are REMOTE_ADDR values in the loopback range.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from tests.webhooks.console_helpers import PASSWORD, console_app, csrf, log_in

# Checked guesses at one account from browsers it does not know, per 15 minutes
# (worker.operators.throttle.ACCOUNT, which test_the_budgets_are_the_documented_ones holds).
BOUND = 10


def attempt(client: FlaskClient, password: str, address: str, operator: str = "") -> int:
    token = csrf(client)
    form = {"operator": operator, "password": password, "csrf_token": token}
    answer = client.post("/console/login", data=form, environ_base={"REMOTE_ADDR": address})
    return answer.status_code


def exhaust(client: FlaskClient, address: str = "127.0.0.1") -> None:
    """Guess until refused (the account's budget, at most)."""
    answers = [attempt(client, f"guess-{i}", address) for i in range(BOUND + 1)]
    assert 429 in answers, answers


def log_out(client: FlaskClient) -> None:
    assert (
        client.post("/console/logout", data={"csrf_token": csrf(client, "/console/")}).status_code
        == 302
    )


@pytest.fixture
def queue() -> str:
    return f"cpm_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def processes(database_url: str, redis_url: str, queue: str) -> Iterator[tuple[Flask, Flask]]:
    apps = tuple(console_app(database_url, redis_url, CLERK_MIRROR_QUEUE=queue) for _ in "ab")
    yield apps[0], apps[1]
    for app in apps:
        app.extensions["clerk_mirror"].close()


def test_rotating_addresses_and_processes_buy_no_more_checked_guesses(
    processes: tuple[Flask, Flask],
) -> None:
    answers = Counter(
        attempt(processes[i % 2].test_client(), f"guess-{i}", f"127.0.{i // 250}.{i % 250 + 2}")
        for i in range(4 * BOUND)
    )
    assert answers[401] <= BOUND
    assert answers[401] + answers[429] == 4 * BOUND


def test_concurrent_guesses_cannot_slip_past_the_count(processes: tuple[Flask, Flask]) -> None:
    def guess(i: int) -> int:
        return attempt(processes[i % 2].test_client(), f"guess-{i}", "127.0.0.9")

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = Counter(pool.map(guess, range(3 * BOUND)))
    assert answers[401] <= BOUND
    assert answers[401] + answers[429] == 3 * BOUND


def test_an_attacker_behind_the_operators_address_cannot_keep_the_operator_out(
    processes: tuple[Flask, Flask],
) -> None:
    operator = processes[0].test_client()
    assert log_in(operator) == 302
    log_out(operator)
    attackers = [app.test_client() for app in processes]
    for attacker in attackers:
        # A forged device cookie too: unsigned, it counts for nothing.
        attacker.set_cookie("clerk_mirror_console_device", "forged", path="/console")
    # From the operator's address, through every process, the attacker keeps guessing
    # until refused before each of the operator's log-ins: the operator's browser still
    # gets in, eight times in a row.
    for _ in range(8):
        for attacker in attackers:
            exhaust(attacker)
        assert attempt(operator, PASSWORD, "127.0.0.1") == 302
        log_out(operator)
    # A browser the account does not know waits, right password or not.
    assert attempt(processes[1].test_client(), PASSWORD, "127.0.0.1") == 429


def test_an_attack_on_the_shared_password_leaves_the_operators_accounts_open(
    processes: tuple[Flask, Flask], database_url: str
) -> None:
    from worker.operators import accounts

    with psycopg.connect(database_url) as conn:
        accounts.add(conn, "ada", "ada's own long password")
    attacker = processes[0].test_client()
    exhaust(attacker)
    ada = processes[1].test_client()  # a browser ada never used before
    assert attempt(ada, "ada's own long password", "127.0.0.1", operator="Ada") == 302
    assert ada.get("/console/").status_code == 200
    assert "ada" in ada.get("/console/").text


def test_the_total_of_guesses_is_bounded_whatever_names_they_try(
    processes: tuple[Flask, Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    import limits

    from worker.operators import throttle

    monkeypatch.setattr(throttle, "EVERYONE", limits.parse("4/15 minutes"))
    operator = processes[0].test_client()
    assert log_in(operator) == 302
    log_out(operator)
    answers = Counter(
        attempt(processes[i % 2].test_client(), "guess", f"127.0.1.{i + 2}", f"name{i}")
        for i in range(10)
    )
    # Every attempt from a browser not known for its account counts, the operator's first
    # (successful) log-in included: three more were checked.
    assert answers == {401: 3, 429: 7}
    # The operator's own browser is not held up by the total.
    assert attempt(operator, PASSWORD, "127.0.0.1") == 302


def test_unlock_lets_a_new_browser_in_again(
    processes: tuple[Flask, Flask], redis_url: str, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.cli.main import main

    attacker = processes[0].test_client()
    exhaust(attacker)
    assert attempt(processes[1].test_client(), PASSWORD, "127.0.0.1") == 429
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CLERK_MIRROR_QUEUE", queue)
    done = CliRunner().invoke(main, ["console", "unlock", "--shared"])
    assert (done.exit_code, done.output) == (0, "unlocked the shared password\n")
    assert attempt(processes[1].test_client(), PASSWORD, "127.0.0.1") == 302


def test_the_budgets_are_the_documented_ones() -> None:
    from worker.operators import throttle

    assert (throttle.ACCOUNT.amount, throttle.ACCOUNT.get_expiry()) == (BOUND, 900)
    assert (throttle.DEVICE.amount, throttle.DEVICE.get_expiry()) == (BOUND, 900)
    assert (throttle.EVERYONE.amount, throttle.EVERYONE.get_expiry()) == (100, 900)
