"""Who is signed in to the console: a session, an authenticating proxy's header, a device.

A session (webhooks.console.sessions) records how it signed in. It is honoured while its
fixed lifetime lasts and the credential it signed in with still holds: the shared password
as CLERK_MIRROR_CONSOLE_PASSWORD now has it (compared through an HMAC under the console's
secret, so that Redis holds nothing to guess the password from), or the operator's account
at the same password generation. A device cookie, signed with the secret, marks a browser
that signed in to an account before; it opens nothing, but gives that browser a log-in
budget of its own (worker.operators.throttle).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g, request, session
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.wrappers import Response as BaseResponse

from webhooks.console.sessions import ConsoleSessions
from webhooks.proxies import VIA_PROXY
from webhooks.runtime import runtime
from worker.operators import accounts
from worker.operators.throttle import Throttle

DEVICE_COOKIE = "clerk_mirror_console_device"
DEVICE_DAYS = 90
PASSWORD, OPERATOR = "password", "operator"


@dataclass(frozen=True, slots=True)
class Gate:
    """What the console's log-in needs, built once by register() (no secret in its repr)."""

    password: str = field(repr=False)
    secret: str = field(repr=False)
    lifetime_s: float
    throttle: Throttle
    user_header: str | None

    @property
    def shared_credential(self) -> str:
        # Ends the shared password's sessions when it changes; keyed by the secret.
        key = self.secret.encode()
        return hmac.new(
            key, b"shared password\0" + self.password.encode(), hashlib.sha256
        ).hexdigest()

    def shared_password_is(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.password.encode())

    @property
    def devices(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt="clerk-mirror console device")


def gate() -> Gate:
    found: Gate = current_app.extensions["clerk_mirror_console"]
    return found


def sign_in(kind: str, who: str, check: str | int) -> None:
    """A fresh session (new id, new CSRF token) for whoever just proved who they are."""
    session.clear()
    session["auth"] = {"kind": kind, "who": who, "check": check, "at": time.time()}
    # A new id, so that an id planted before the log-in (session fixation) opens nothing.
    sessions: ConsoleSessions = current_app.session_interface  # type: ignore[assignment]
    sessions.regenerate(session)


def proxy_user() -> str | None:
    """The authenticating proxy's user, when the request came through a trusted proxy."""
    header = gate().user_header
    if not header or not request.environ.get(VIA_PROXY):
        return None
    who = request.headers.get(header, "").strip()
    return who if who and len(who) <= 254 and who.isprintable() else None


def signed_in_as() -> str | None:
    """The operator this request is from (the shared password's is "shared"), else None."""
    if "operator" not in g:
        g.operator = proxy_user() or _session_user()
    who: str | None = g.operator
    return who


def _session_user() -> str | None:
    auth: Any = session.get("auth")
    if not isinstance(auth, dict) or not isinstance(auth.get("at"), int | float):
        return None
    if time.time() - auth["at"] >= gate().lifetime_s:
        return None
    who, check = auth.get("who"), auth.get("check")
    if auth.get("kind") == PASSWORD and isinstance(check, str):
        valid = hmac.compare_digest(check.encode(), gate().shared_credential.encode())
    elif auth.get("kind") == OPERATOR and isinstance(who, str):
        with runtime().pool.connection() as conn:
            valid = check == accounts.generation(conn, who)
    else:
        valid = False
    return str(who) if valid else None


def known_device(account: str) -> str | None:
    """The id of this browser's device cookie when it is valid for this account."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        found = gate().devices.loads(raw, max_age=DEVICE_DAYS * 86400)
    except BadData:
        return None
    if isinstance(found, list) and len(found) == 2 and found[0] == account:
        return str(found[1])
    return None


def remember_device(response: BaseResponse, account: str, device: str | None) -> None:
    value = gate().devices.dumps([account, device or secrets.token_urlsafe(16)])
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=DEVICE_DAYS * 86400,
        path="/console",
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
    )
