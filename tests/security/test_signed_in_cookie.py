"""Finding 2: the signed-in cookie carried sha256("console:" + password)[:32].

A Flask cookie is signed, not encrypted: whoever saw it (a proxy's log, a HAR file)
could crack the password at SHA-256 speed, even with CLERK_MIRROR_CONSOLE_SECRET set.
Now the cookie is a random session id, and what Redis keeps for it holds no unkeyed
digest of the password either.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import zlib

import redis
from flask.testing import FlaskClient

from tests.security.test_offline_guessing import CANDIDATES
from tests.webhooks.console_helpers import PASSWORD, console_app, sign_in


def readable(cookie: str) -> bytes:
    """What anyone can read in a cookie without its key: the payload of a signed one."""
    compressed = cookie.startswith(".")
    payload = cookie.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return zlib.decompress(raw) if compressed else raw


def digests(candidate: str) -> list[str]:
    pw = candidate.encode()
    return [
        hashlib.sha256(b"console:" + pw).hexdigest()[:32],  # what the cookie carried
        hashlib.sha256(pw).hexdigest(),
        hashlib.md5(pw).hexdigest(),  # noqa: S324 (what an attacker would try)
    ]


def signed_in_cookie(client: FlaskClient) -> str:
    sign_in(client)
    assert client.get("/console/").status_code == 200
    cookie = client.get_cookie("clerk_mirror_console", path="/console")
    assert cookie is not None
    return cookie.value


def test_the_signed_in_cookie_carries_nothing_to_crack_the_password_with(
    database_url: str, redis_url: str
) -> None:
    app = console_app(database_url, redis_url)  # with CLERK_MIRROR_CONSOLE_SECRET set
    try:
        cookie = signed_in_cookie(app.test_client())
    finally:
        app.extensions["clerk_mirror"].close()
    seen = cookie.encode() + readable(cookie)
    candidates = random.sample(CANDIDATES, len(CANDIDATES))
    told = [c for c in candidates if any(d.encode() in seen for d in digests(c))]
    assert told == []
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie)


def test_what_redis_keeps_for_a_session_holds_no_unkeyed_digest_of_the_password(
    database_url: str, redis_url: str
) -> None:
    app = console_app(database_url, redis_url)
    try:
        cookie = signed_in_cookie(app.test_client())
    finally:
        app.extensions["clerk_mirror"].close()
    client = redis.Redis.from_url(redis_url)
    keys = [k for k in client.scan_iter(match=f"*:console:session:{cookie}")]
    assert len(keys) == 1
    stored = client.get(keys[0])
    assert stored is not None
    assert PASSWORD.encode() not in stored
    assert not [d for d in digests(PASSWORD) if d.encode() in stored]
