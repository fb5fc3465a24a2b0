"""The operator's console at /console/: overview, events and replay, reports, SMS (off by default).

It is on only when CLERK_MIRROR_CONSOLE_PASSWORD is set; otherwise nothing is registered
and /console/ answers 404. Log-in (webhooks.console.auth, .gate) is an operator's account
or the shared password, or an authenticating proxy's header; sessions live in Redis
(.sessions), signed cookies carry nothing derived from a password. It reads through the
web's pool and replays through worker.mirror.replay, the code `clerk-mirror replay` runs.
It never shows a raw phone number, a secret or a personal field of a payload.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from webhooks.console import auth, events, overview, reports, sms
from webhooks.console.blueprint import bp
from webhooks.console.gate import Gate
from webhooks.console.sessions import ConsoleSessions
from webhooks.runtime import Runtime
from worker import config
from worker.operators.throttle import Throttle, console_keys

SESSION_HOURS = 12
COOKIE = "clerk_mirror_console"


def register(app: Flask, settings: config.Settings, rt: Runtime) -> None:
    """Mount the console when a password is set; leave /console/ a 404 otherwise."""
    if not settings.console_password:
        return
    if not settings.console_secret:  # worker.config refuses this first; never derive one
        raise config.ConfigError("CLERK_MIRROR_CONSOLE_SECRET is not set")
    app.config.update(
        SECRET_KEY=settings.console_secret,
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_REFRESH_EACH_REQUEST=False,  # a fixed lifetime from log-in, never sliding
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )
    prefix = console_keys(settings.queue)
    app.session_interface = ConsoleSessions(app, rt.redis, f"{prefix}:session:")
    app.extensions["clerk_mirror_console"] = Gate(
        password=settings.console_password,
        secret=settings.console_secret,
        lifetime_s=SESSION_HOURS * 3600.0,
        throttle=Throttle(rt.redis, settings.redis_url, f"{prefix}:throttle"),
        user_header=settings.console_user_header,
    )
    app.register_blueprint(bp)


__all__ = ["auth", "events", "overview", "register", "reports", "sms"]
