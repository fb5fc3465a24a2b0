"""Finding 8: sessions outlived log-out, never expired while in use, and were never Secure.

Log-out only cleared the browser's copy (a copied cookie still worked), the cookie renewed
itself on every answer (a sliding 12 h), and it had no Secure flag behind HTTPS. Now a
session lives in Redis (log-out deletes it), ends 12 h after its log-in however busy, and
its cookie is Secure whenever the request came over HTTPS, directly or through a trusted
proxy.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from types import SimpleNamespace

import psycopg
import pytest
import redis
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from tests.webhooks.console_helpers import PASSWORD, console_app, csrf, log_in, sign_in

HOURS_12 = 12 * 3600


@pytest.fixture
def app(database_url: str, redis_url: str) -> Iterator[Flask]:
    found = console_app(database_url, redis_url)
    yield found
    found.extensions["clerk_mirror"].close()


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("clerk_mirror_console", path="/console")
    assert cookie is not None
    return cookie.value


def with_cookie(app: Flask, value: str) -> FlaskClient:
    client = app.test_client()
    client.set_cookie("clerk_mirror_console", value, path="/console")
    return client


def set_cookies(answer: object) -> dict[str, SimpleCookie]:
    found = {}
    for header in answer.headers.getlist("Set-Cookie"):  # type: ignore[attr-defined]
        cookie: SimpleCookie = SimpleCookie(header)
        found.update({name: cookie for name in cookie})
    return found


def test_a_copied_cookie_stops_working_at_log_out(app: Flask) -> None:
    client = app.test_client()
    token = sign_in(client)
    copied = session_cookie(client)
    assert with_cookie(app, copied).get("/console/").status_code == 200
    assert client.post("/console/logout", data={"csrf_token": token}).status_code == 302
    assert with_cookie(app, copied).get("/console/").status_code == 302


def test_the_cookie_is_not_renewed_by_use(app: Flask) -> None:
    client = app.test_client()
    sign_in(client)
    for path in ("/console/", "/console/events", "/console/reports"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert "clerk_mirror_console" not in set_cookies(answer), path


def test_a_session_ends_12_hours_after_its_log_in_however_busy(
    app: Flask, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app.test_client()
    signed_in = time.time()
    token = csrf(client)
    answer = client.post("/console/login", data={"password": PASSWORD, "csrf_token": token})
    expires = set_cookies(answer)["clerk_mirror_console"]["clerk_mirror_console"]["expires"]
    ends = datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    assert abs(ends.timestamp() - (signed_in + HOURS_12)) < 5
    ttl = redis.Redis.from_url(redis_url).ttl(
        next(redis.Redis.from_url(redis_url).scan_iter(match=f"*:session:{session_cookie(client)}"))
    )
    assert HOURS_12 - 10 < ttl <= HOURS_12
    from webhooks.console import gate

    real = time.time
    monkeypatch.setattr(gate, "time", SimpleNamespace(time=lambda: real() + HOURS_12 - 60))
    assert client.get("/console/").status_code == 200  # busy until the end
    monkeypatch.setattr(gate, "time", SimpleNamespace(time=lambda: real() + HOURS_12 + 1))
    assert client.get("/console/").status_code == 302


def test_the_cookie_is_secure_over_https(app: Flask) -> None:
    client = app.test_client()
    answer = client.get("/console/login", base_url="https://console.example")
    assert set_cookies(answer)["clerk_mirror_console"]["clerk_mirror_console"]["secure"]
    plain = app.test_client().get("/console/login")
    assert not set_cookies(plain)["clerk_mirror_console"]["clerk_mirror_console"]["secure"]


@pytest.mark.parametrize(("peer", "secure"), [("127.0.0.1", True), ("127.0.0.7", False)])
def test_a_forwarded_https_is_believed_only_from_a_trusted_proxy(
    database_url: str, redis_url: str, peer: str, secure: bool
) -> None:
    app = console_app(database_url, redis_url, CLERK_MIRROR_TRUSTED_PROXIES="127.0.0.1/32")
    try:
        answer = app.test_client().get(
            "/console/login",
            headers={"X-Forwarded-Proto": "https"},
            environ_base={"REMOTE_ADDR": peer},
        )
    finally:
        app.extensions["clerk_mirror"].close()
    cookie = set_cookies(answer)["clerk_mirror_console"]["clerk_mirror_console"]
    assert bool(cookie["secure"]) is secure


def test_log_in_gives_a_new_session_id(app: Flask) -> None:
    client = app.test_client()
    csrf(client)
    planted = session_cookie(client)  # what an attacker could have planted beforehand
    assert log_in(client) == 302
    assert session_cookie(client) != planted
    assert with_cookie(app, planted).get("/console/").status_code == 302


def test_an_operators_password_change_or_removal_ends_their_sessions(
    app: Flask, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.cli.main import main
    from worker.operators import accounts

    with psycopg.connect(database_url) as conn:
        accounts.add(conn, "ada", "ada's own long password")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CLERK_MIRROR_QUEUE", f"cpm_test_{uuid.uuid4().hex[:12]}")
    client = app.test_client()
    sign_in(client, "ada's own long password", "ada")
    assert client.get("/console/").status_code == 200
    changed = CliRunner().invoke(
        main, ["console", "set-password", "ada"], input="a new long password\n" * 2
    )
    assert changed.exit_code == 0, changed.output
    assert client.get("/console/").status_code == 302
    sign_in(client, "a new long password", "ada")
    assert client.get("/console/").status_code == 200
    assert CliRunner().invoke(main, ["console", "remove", "ada"]).exit_code == 0
    assert client.get("/console/").status_code == 302
