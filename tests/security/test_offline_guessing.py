"""Finding 1: one anonymous cookie let anyone guess the console's password offline.

The session key was derived from the password, and GET /console/login stored a CSRF token
in a signed cookie: each candidate password gave a key to check the signature with. The
attack is run as reported, against what `make run` starts with only
CLERK_MIRROR_CONSOLE_PASSWORD set: from a list that holds the real password, the right one
must not stand out under the old derivation or any plausible other.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import re
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature, Signer

from tests.security import make_run
from tests.support.signing import TEST_SECRET
from tests.webhooks.console_helpers import PASSWORD
from webhooks import create_app
from worker import config

ROOT = Path(__file__).parents[2]
# What an attacker tries: a common-password list, and the real password among them.
CANDIDATES = [
    "123456",
    "password",
    "letmein",
    "choose-one",
    "hunter2",
    "correct horse battery",
    "Tr0ub4dor&3",
    PASSWORD,
    "console",
    "clerk-mirror",
]


def keys_from(candidate: str) -> list[bytes]:
    """Every key an attacker might think the cookie is signed with, given a password."""
    pw = candidate.encode()
    return [
        # The old scheme: webhooks/console/__init__.py's session_key without a secret.
        hmac.new(pw, b"clerk-mirror console session key", hashlib.sha256).digest(),
        pw,
        hashlib.sha256(pw).digest(),
        hashlib.sha256(pw).hexdigest().encode(),
        hashlib.sha256(b"console:" + pw).hexdigest()[:32].encode(),
    ]


def opens(cookie: str, key: bytes) -> bool:
    """True when the cookie's signature checks out under this key (Flask's cookie session,
    or a signed session id)."""
    app = Flask(__name__)
    app.secret_key = key
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    for check in (
        serializer.loads,
        Signer(key, salt="flask-session", key_derivation="hmac").unsign,
        Signer(key).unsign,
    ):
        try:
            check(cookie)
        except BadSignature:
            continue
        return True
    return False


def make_run_console(tmp_path: Path, database_url: str, redis_url: str) -> Flask:
    """The console as `make run` starts it when the operator sets only the password."""
    env = make_run.environment(
        make_run.checkout(tmp_path),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CLERK_MIRROR_CONSOLE_PASSWORD=PASSWORD,
    )
    console = {k: v for k, v in env.items() if k.startswith("CLERK_MIRROR_CONSOLE_")}
    return create_app(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
            "CLERK_MIRROR_QUEUE": f"cpm_test_{uuid.uuid4().hex[:12]}",
            **console,
        }
    )


def test_an_anonymous_cookie_cannot_tell_the_right_password_from_a_list(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    app = make_run_console(tmp_path, database_url, redis_url)
    try:
        client = app.test_client()
        assert client.get("/console/login").status_code == 200
        cookie = client.get_cookie("clerk_mirror_console", path="/console")
        assert cookie is not None
        other = app.test_client()
        other.get("/console/login")
        second = other.get_cookie("clerk_mirror_console", path="/console")
    finally:
        app.extensions["clerk_mirror"].close()
    candidates = random.sample(CANDIDATES, len(CANDIDATES))
    told = [c for c in candidates if any(opens(cookie.value, key) for key in keys_from(c))]
    assert told == []
    # Nothing else to work on either: 32 random bytes, a new one for each visitor.
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie.value)
    assert second is not None
    assert second.value != cookie.value


def test_make_run_keeps_a_random_console_secret_of_its_own_in_data(tmp_path: Path) -> None:
    root = make_run.checkout(tmp_path)
    env = {"DATABASE_URL": "postgresql://unused", "CLERK_MIRROR_CONSOLE_PASSWORD": PASSWORD}
    first = make_run.environment(root, **env)["CLERK_MIRROR_CONSOLE_SECRET"]
    kept = root / ".data" / "console-secret"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert kept.read_text().strip() == first
    assert len(first) >= config.MIN_CONSOLE_SECRET
    assert PASSWORD not in first
    # The same at the next start (sessions survive a restart); another checkout, another.
    assert make_run.environment(root, **env)["CLERK_MIRROR_CONSOLE_SECRET"] == first
    other = make_run.checkout(tmp_path / "other")
    assert make_run.environment(other, **env)["CLERK_MIRROR_CONSOLE_SECRET"] != first
    # One of the operator's own is used as it is.
    mine = "an-operators-own-secret-of-more-than-32-characters"
    chosen = make_run.environment(root, **env, CLERK_MIRROR_CONSOLE_SECRET=mine)
    assert chosen["CLERK_MIRROR_CONSOLE_SECRET"] == mine


def test_the_console_refuses_to_start_without_a_secret_of_its_own(
    database_url: str, redis_url: str
) -> None:
    settings = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_MIRROR_CONSOLE_PASSWORD": PASSWORD,
    }
    with pytest.raises(config.ConfigError, match=r"^CLERK_MIRROR_CONSOLE_SECRET is not set"):
        create_app(settings)
    with pytest.raises(config.ConfigError, match=r"^CLERK_MIRROR_CONSOLE_SECRET should be"):
        create_app({**settings, "CLERK_MIRROR_CONSOLE_SECRET": "short"})


def test_the_procfile_web_without_the_secret_stops_in_one_line_naming_it(
    database_url: str, redis_url: str
) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_MIRROR_CONSOLE_PASSWORD": PASSWORD,
    }
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "webhooks:create_app()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stderr.startswith("clerk-mirror: CLERK_MIRROR_CONSOLE_SECRET is not set")
    assert done.stderr.count("\n") == 1
