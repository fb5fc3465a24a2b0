"""The operator's console at /console/: overview, events and replay, reports (off by default).

It is on only when CLERK_MIRROR_CONSOLE_PASSWORD is set; otherwise nothing is registered
and /console/ answers 404. It reads through the web's pool and replays through
worker.mirror.replay, the code `clerk-mirror replay` runs. It never shows a raw phone
number, a secret or a personal field of a payload.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import Flask

from webhooks.console import auth, events, overview, reports
from webhooks.console.blueprint import bp
from worker import config

SESSION_HOURS = 12


def session_key(settings: config.Settings) -> bytes:
    """CLERK_MIRROR_CONSOLE_SECRET, else a key derived from the password.

    Derived, so that changing the password signs every session out, and the same in
    every web process without another variable to share.
    """
    if settings.console_secret:
        return settings.console_secret.encode()
    password = (settings.console_password or "").encode()
    return hmac.new(password, b"clerk-mirror console session key", hashlib.sha256).digest()


def register(app: Flask, settings: config.Settings) -> None:
    """Mount the console when a password is set; leave /console/ a 404 otherwise."""
    if not settings.console_password:
        return
    app.config.update(
        SECRET_KEY=session_key(settings),
        SESSION_COOKIE_NAME="clerk_mirror_console",
        SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )
    app.extensions["clerk_mirror_console"] = auth.Guard(settings.console_password)
    app.register_blueprint(bp)


__all__ = ["auth", "events", "overview", "register", "reports"]
