"""Finding 16, the console's part: a non-ASCII CSRF token and CR/LF in `next=` answered 500.

hmac.compare_digest refuses a str that is not ASCII, and a redirect cannot carry a CR or
LF: both were 500s, the first with no log-in needed. Now the first is a 400 that signs no
one in, and the second a redirect into the console, never to the address it carried.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from flask import Flask

from tests.webhooks.console_helpers import PASSWORD, console_app, csrf, sign_in


@pytest.fixture
def app(database_url: str, redis_url: str) -> Iterator[Flask]:
    found = console_app(database_url, redis_url)
    yield found
    found.extensions["clerk_mirror"].close()


# As sent on the wire: é, a line separator, bytes that are not UTF-8 at all.
@pytest.mark.parametrize("token", ["%C3%A9", "%E2%80%A8", "token-%C3%BC", "%FF%FE"])
def test_a_non_ascii_csrf_token_is_a_400_that_signs_no_one_in(app: Flask, token: str) -> None:
    client = app.test_client()
    csrf(client)
    answer = client.post(
        "/console/login",
        data=f"password={quote(PASSWORD)}&csrf_token={token}",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 400
    assert client.get("/console/").status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "/console/\r\nSet-Cookie: planted=1",
        "/console/\r\nLocation: https://evil.example/",
        "/console/events\n",
        "/console/\x00",
    ],
)
def test_a_control_character_in_next_redirects_into_the_console(app: Flask, target: str) -> None:
    client = app.test_client()
    token = csrf(client)
    answer = client.post(
        "/console/login",
        query_string={"next": target},
        data={"password": PASSWORD, "csrf_token": token},
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/console/"
    assert "planted" not in answer.headers.get("Set-Cookie", "")


def test_a_page_with_cr_lf_in_its_path_sends_to_log_in_and_back_safely(app: Flask) -> None:
    client = app.test_client()
    answer = client.get("/console/events/msg%0d%0aX-Injected:%201")
    assert answer.status_code == 302
    assert "\n" not in answer.headers["Location"]
    assert "X-Injected" not in answer.headers
    sign_in(client)
    assert client.get("/console/events/msg%0d%0aX-Injected:%201").status_code == 404
