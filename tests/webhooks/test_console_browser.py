"""The console in a real browser: Debian's chromium, driven by Playwright, on a real gunicorn."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.processes import free_port, running, wait_for, web_argv, web_ready
from tests.support.signing import TEST_SECRET
from tests.webhooks.console_helpers import (
    DEAD_ID,
    PASSWORD,
    PUMPED,
    SECRET,
    raw_numbers_in,
    seed,
    seed_sms,
)
from worker.operators import accounts

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The machine may be busy (the suite starts servers beside this test): wait longer than 5 s.
expect.set_options(timeout=15_000)
# Where to keep the overview's screenshot, e.g. docs/console-overview.png (docs/console.md
# shows it).
SCREENSHOT = os.environ.get("CLERK_MIRROR_CONSOLE_SCREENSHOT")


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail("chromium is missing: `make test` installs it (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@contextmanager
def web(env: dict[str, str], log: Path) -> Iterator[str]:
    """A real gunicorn web process; yields the console's URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The browser keeps its connections open; a long graceful stop would only wait on them.
    argv = [*web_argv(port, workers=1), "--graceful-timeout", "1"]
    with running(argv, {"WEB_THREADS": "2", **env}, log):
        wait_for(web_ready(base), 30, "web")
        yield f"{base}/console/"


@pytest.fixture
def web_env(database_url: str, redis_url: str, queue_name: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_MIRROR_QUEUE": queue_name,
    }


@pytest.fixture
def console_url(database_url: str, web_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    seed(database_url)
    env = {
        **web_env,
        "CLERK_MIRROR_CONSOLE_PASSWORD": PASSWORD,
        "CLERK_MIRROR_CONSOLE_SECRET": SECRET,
    }
    with web(env, tmp_path / "web.log") as url:
        yield url


def chart(page: Page, canvas_id: str) -> dict[str, int]:
    """Datasets and points of the chart Chart.js drew on a canvas, once it has drawn it."""
    found = f"window.Chart && Chart.getChart({canvas_id!r})"
    # Polled from here: wait_for_function polls by compiling the string in the page, which
    # the console's Content-Security-Policy (no 'unsafe-eval') refuses; evaluate is not eval.
    deadline = time.monotonic() + 15
    while not page.evaluate(f"!!({found})"):
        assert time.monotonic() < deadline, f"no chart drawn on #{canvas_id}"
        time.sleep(0.05)
    drawn: dict[str, int] = page.evaluate(
        f"(() => {{ const c = {found}; return {{datasets: c.data.datasets.length,"
        " points: c.data.datasets[0].data.length}; })()"
    )
    return drawn


def no_raw_number(page: Page) -> None:
    assert not raw_numbers_in(page.content()), page.url


def test_operator_logs_in_reads_counts_and_replays_a_dead_event_until_applied(
    browser: Browser, console_url: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(console_url)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Wrong password.")

    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#count-dead")).to_have_text("1")
    expect(page.locator("#count-pending")).to_have_text("0")
    expect(page.locator("#received-hour")).to_have_text("4")
    expect(page.locator("#applied-hour")).to_have_text("3")
    expect(page.locator("[data-ready=postgres] .value")).to_have_text("ready")
    expect(page.locator("[data-ready=redis] .value")).to_have_text("ready")
    assert chart(page, "chart-throughput") == {"datasets": 2, "points": 24 * 60}
    no_raw_number(page)
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)

    page.click("text=Events")
    first = page.locator("#events tbody tr").first
    expect(first).to_have_attribute("data-svix-id", DEAD_ID)
    expect(first.locator(".error")).to_contain_text("+44 ••••••••23")
    no_raw_number(page)
    first.locator("a").click()
    expect(page.locator("#event-status")).to_have_text("dead")
    expect(page.locator("#payload")).to_contain_text('"phone_number": "+1 ••••••••43"')
    expect(page.locator("#payload")).to_contain_text('"email_address": "[hidden]"')
    no_raw_number(page)

    page.click("#replay")
    expect(page.locator(".flash.ok")).to_contain_text("1 processed")
    expect(page.locator("#event-status")).to_have_text("processed")
    page.click("text=Overview")
    expect(page.locator("#count-dead")).to_have_text("0")

    page.click("text=Reports")
    for name in ("verification_status", "phone_regions", "two_factor", "time_to_verify"):
        assert chart(page, f"chart-{name}")["points"] > 0, name
    page.fill("input[name=as_of]", "2030-01-01T00:00")
    page.click("#report-phone_numbers_as_of button")
    expect(page.locator("#report-phone_numbers_as_of td").first).to_be_visible()
    no_raw_number(page)
    page.close()


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    browser: Browser, console_url: str
) -> None:
    page = browser.new_page()
    page.goto(console_url)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#count-dead")).to_have_text("1")

    answer = page.request.post(f"{console_url}events/{DEAD_ID}/replay", form={})
    assert answer.status == 400
    page.reload()
    expect(page.locator("#count-dead")).to_have_text("1")
    page.close()


def test_without_a_password_the_console_is_not_there(
    browser: Browser, web_env: dict[str, str], tmp_path: Path
) -> None:
    with web(web_env, tmp_path / "web.log") as url:
        page = browser.new_page()
        for path in ("", "login"):
            answer = page.goto(url + path)
            assert answer is not None
            assert answer.status == 404
        page.close()


def test_an_operator_logs_in_with_their_own_account_and_out_again(
    browser: Browser, console_url: str, database_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        accounts.add(conn, "ada", "ada's own long password")
    page = browser.new_page()
    page.goto(console_url)
    page.fill("input[name=operator]", "Ada")
    page.fill("input[name=password]", PASSWORD)  # the shared one is not hers
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Wrong name or password.")
    page.fill("input[name=operator]", "Ada")
    page.fill("input[name=password]", "ada's own long password")
    page.click("button[type=submit]")
    expect(page.locator("#operator")).to_have_text("ada")
    expect(page.locator("#count-dead")).to_have_text("1")
    page.click("text=Log out")
    expect(page.locator("input[name=password]")).to_be_visible()
    page.goto(console_url)
    assert "/console/login" in page.url
    page.close()


def test_the_sms_page_draws_sends_against_verifications_and_lists_suspicious_prefixes(
    browser: Browser, console_url: str, database_url: str
) -> None:
    seed_sms(database_url)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(console_url)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.click("nav >> text=SMS")
    assert chart(page, "chart-sms-per-day") == {"datasets": 3, "points": 2}
    first = page.locator("#suspicious-prefixes tbody tr").first
    expect(first).to_contain_text("+44740099")
    expect(first).to_contain_text("25 sends from a prefix with none in the 28 days before")
    no_raw_number(page)
    assert not [n for n in PUMPED if n in page.content()]
    page.close()
