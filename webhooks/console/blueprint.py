"""The console's blueprint: every page behind the log-in, every POST behind a CSRF token."""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import UTC, date, datetime

import psycopg
import psycopg_pool
import redis
from flask import (
    Blueprint,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from webhooks.console.gate import proxy_user, signed_in_as

log = logging.getLogger(__name__)
bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
)

OPEN_ENDPOINTS = frozenset({"console.login", "console.static"})
# Everything is served from here (the chart library is vendored): no CDN, nothing inline.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def csrf_token() -> str:
    """This session's CSRF token, made on first use (the log-in form needs one too)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


@bp.before_request
def protect() -> BaseResponse | None:
    if getattr(session, "unreadable", False):
        abort(503, "Redis is unavailable: the console keeps its sessions there")
    if request.method == "POST":
        # As bytes: compare_digest refuses a str that is not ASCII (a 500, once).
        sent = request.form.get("csrf_token", "").encode()
        expected = session.get("csrf")
        if not isinstance(expected, str) or not hmac.compare_digest(sent, expected.encode()):
            log.info("console POST without a valid CSRF token", extra={"path": request.path})
            abort(400, "this form has expired or did not come from the console: reload the page")
    if request.endpoint not in OPEN_ENDPOINTS and signed_in_as() is None:
        return redirect(url_for("console.login", next=request.full_path))
    return None


@bp.after_request
def headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_context_processor
def template_globals() -> dict[str, object]:
    # The operator as protect() found them (None on the log-in page and on errors).
    return {"csrf_token": csrf_token, "operator": g.get("operator"), "proxy_user": proxy_user}


@bp.errorhandler(psycopg.OperationalError)
@bp.errorhandler(psycopg_pool.PoolTimeout)
def database_down(exc: Exception) -> tuple[str, int]:
    log.warning("console: database unavailable", extra={"error": type(exc).__name__})
    message = f"Postgres is unavailable ({type(exc).__name__}); this page needs it."
    return render_template("console/error.html", message=message), 503


@bp.errorhandler(redis.RedisError)
def redis_down(exc: Exception) -> tuple[str, int]:
    log.warning("console: Redis unavailable", extra={"error": type(exc).__name__})
    message = f"Redis is unavailable ({type(exc).__name__}): the console's log-in needs it."
    return render_template("console/error.html", message=message), 503


@bp.errorhandler(400)
@bp.errorhandler(503)
def refused(exc: Exception) -> tuple[str, int]:
    message = getattr(exc, "description", "bad request")
    return render_template("console/error.html", message=message), getattr(exc, "code", 400)


def moment(raw: str | None) -> datetime | None:
    """An ISO 8601 query parameter (UTC when it names no offset); 400 when malformed."""
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        abort(400, f"{raw!r} is not an ISO 8601 time like 2026-01-31T12:00")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@bp.app_template_filter("cell")
def cell(value: object) -> str:
    """A table cell: empty for NULL, ISO 8601 for times, JSON-ish for lists."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)
    return str(value)


@bp.app_template_filter("age")
def age(seconds: float | None) -> str:
    if seconds is None:
        return "nothing pending"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
