"""Behind an authenticating proxy (oauth2-proxy): its user header signs in, from it only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.webhooks.console_helpers import DEAD_ID, console_app, csrf, seed
from worker import config

PROXY = "127.0.0.5"
SSO = {
    "CLERK_MIRROR_TRUSTED_PROXIES": f"{PROXY}, ::1",
    "CLERK_MIRROR_CONSOLE_USER_HEADER": "X-Forwarded-Email",
}


@pytest.fixture
def app(database_url: str, redis_url: str) -> Iterator[Flask]:
    seed(database_url)
    found = console_app(database_url, redis_url, **SSO)
    yield found
    found.extensions["clerk_mirror"].close()


def test_the_proxys_user_is_signed_in_and_can_post(app: Flask) -> None:
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_EMAIL": "ada@example.com"})
    page = client.get("/console/")
    assert page.status_code == 200
    assert "ada@example.com" in page.text
    assert "Log out" not in page.text  # signing out is the proxy's business
    assert client.get("/console/login").status_code == 302
    token = csrf(client, f"/console/events/{DEAD_ID}")
    replay = client.post(f"/console/events/{DEAD_ID}/replay", data={"csrf_token": token})
    assert replay.status_code == 302
    assert "1 processed" in client.get(replay.headers["Location"]).text


@pytest.mark.parametrize(
    "environ",
    [
        {"REMOTE_ADDR": "127.0.0.6", "HTTP_X_FORWARDED_EMAIL": "ada@example.com"},
        {
            "REMOTE_ADDR": "127.0.0.6",
            "HTTP_X_FORWARDED_EMAIL": "ada@example.com",
            "HTTP_X_FORWARDED_FOR": PROXY,
        },
        {"REMOTE_ADDR": PROXY},
        {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_EMAIL": "ada@example.com\x1b[2J"},
    ],
)
def test_the_header_counts_for_nothing_from_anyone_else_or_empty(
    app: Flask, environ: dict[str, str]
) -> None:
    client = app.test_client()
    client.environ_base.update(environ)
    answer = client.get("/console/")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/console/login")


def test_without_the_setting_the_header_counts_for_nothing(
    database_url: str, redis_url: str
) -> None:
    app = console_app(database_url, redis_url, CLERK_MIRROR_TRUSTED_PROXIES=PROXY)
    try:
        client = app.test_client()
        client.environ_base.update(
            {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_EMAIL": "ada@example.com"}
        )
        assert client.get("/console/").status_code == 302
    finally:
        app.extensions["clerk_mirror"].close()


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        ({"CLERK_MIRROR_CONSOLE_USER_HEADER": "X-Forwarded-Email"}, "needs CLERK_MIRROR_TRUSTED"),
        ({"CLERK_MIRROR_TRUSTED_PROXIES": "the balancer"}, "CLERK_MIRROR_TRUSTED_PROXIES should"),
        ({**SSO, "CLERK_MIRROR_CONSOLE_USER_HEADER": "X Email"}, "USER_HEADER should be"),
    ],
)
def test_a_bad_proxy_setting_stops_the_web_naming_it(
    settings: dict[str, str], refusal: str
) -> None:
    with pytest.raises(config.ConfigError, match=refusal):
        config.from_env(settings, (config.WEB,))
