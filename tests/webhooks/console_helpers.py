"""What the console tests share: a seeded inbox, the numbers it holds, a signed-in client."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from flask import Flask
from flask.testing import FlaskClient

from tests.support.bodies import FIXTURES, STORY
from tests.support.crafted import apply, phone, put_all, sms, snapshot
from tests.support.signing import TEST_SECRET
from tests.worker.mirror.helpers import deliver, put
from webhooks import create_app

PASSWORD = "correct horse battery staple"
# The console's own secret (CLERK_MIRROR_CONSOLE_SECRET): random, unrelated to the password.
SECRET = "tG3vJ0m9yQ2rX7bN5cW8aK1fL4hS6dP0zE3uR9iO2wY"
DEAD_ID = "msg_dead_second_phone"
DEAD_ERROR = "UniqueViolation: Key (phone_number)=(+447700900123) already exists"
# Every phone number any fixture holds: none may ever appear on a console page.
NUMBERS = frozenset(
    re.findall(
        r'"phone_number":\s*"(\+\d+)"',
        "".join(p.read_text() for p in (FIXTURES / "clerk").glob("*.json")),
    )
)


def seed(database_url: str) -> None:
    """Three applied events of the sample user, then one that died after five attempts."""
    with psycopg.connect(database_url) as conn:
        deliver(conn, [(STORY[0], "msg_a1"), (STORY[1], "msg_a2"), (STORY[2], "msg_a3")])
        put(conn, STORY[3], DEAD_ID)
        conn.execute(
            "UPDATE clerk.webhook_events SET status = 'dead', attempts = 5, last_error = %s"
            " WHERE svix_id = %s",
            (DEAD_ERROR, DEAD_ID),
        )


def raw_numbers_in(text: str) -> set[str]:
    """The raw numbers a page shows, with or without the plus sign."""
    return {n for n in NUMBERS if n in text or n.lstrip("+") in text}


def csrf(client: FlaskClient, path: str = "/console/login") -> str:
    page = client.get(path).text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def log_in(client: FlaskClient, password: str = PASSWORD, operator: str = "") -> int:
    """A log-in through the form, as a browser does it; the answer's status."""
    token = csrf(client)
    form = {"operator": operator, "password": password, "csrf_token": token}
    return client.post("/console/login", data=form).status_code


def sign_in(client: FlaskClient, password: str = PASSWORD, operator: str = "") -> str:
    """Log in; the CSRF token of the signed-in session."""
    assert log_in(client, password, operator) == 302
    return csrf(client, "/console/events")


def console_app(database_url: str, redis_url: str, **extra: str) -> Flask:
    settings = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_MIRROR_CONSOLE_PASSWORD": PASSWORD,
        "CLERK_MIRROR_CONSOLE_SECRET": SECRET,
        # Its own keys in the shared Redis: sessions and log-in counts of this test only.
        "CLERK_MIRROR_QUEUE": f"cpm_test_{uuid.uuid4().hex[:12]}",
        **extra,
    }
    return create_app(settings)


PUMPED = [f"+44740099{i:04d}" for i in range(25)]


def seed_sms(database_url: str) -> datetime:
    """A verified user with a code yesterday, and 25 codes to a new prefix today."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    with psycopg.connect(database_url) as conn:
        apply(conn, snapshot("user_s", yesterday, [phone("idn_s1", "+447400123456")]))
        put_all(
            conn,
            sms("sms_ok", "+447400123456", yesterday, user_id="user_s", phone_id="idn_s1"),
            *[sms(f"sms_p{i}", n, today + timedelta(seconds=i)) for i, n in enumerate(PUMPED)],
        )
    return today
