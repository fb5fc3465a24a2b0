"""The console's log-in and log-out: an operator's account or the shared password.

No wait is ever spent in the request thread: a refused attempt is answered at once (429)
and a wrong password at once (401); the throttle (worker.operators.throttle) bounds how
many are checked, shared by every web process through Redis.
"""

from __future__ import annotations

import logging

from flask import redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from webhooks.console import gate as gates
from webhooks.console.blueprint import bp, csrf_token
from webhooks.runtime import runtime
from worker.operators import accounts
from worker.operators.throttle import Attempt, account_key

log = logging.getLogger(__name__)
WRONG = {True: "Wrong name or password.", False: "Wrong password."}


def _safe_next(target: str | None) -> str:
    # Only paths inside the console, and nothing a header cannot carry: never an open
    # redirect, never a 500 from a CR or LF.
    if (
        target
        and target.startswith("/console/")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
    ):
        return target
    return url_for("console.overview")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _checked(name: str | None, password: str) -> tuple[str, str, str | int] | None:
    """(kind, who, check) for the session when the password is right, else None."""
    if name is None:
        ok = gates.gate().shared_password_is(password)
        return (gates.PASSWORD, "shared", gates.gate().shared_credential) if ok else None
    with runtime().pool.connection() as conn:
        generation = accounts.check(conn, name, password)
    return None if generation is None else (gates.OPERATOR, name, generation)


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | tuple[str, int] | str:
    if gates.proxy_user() is not None:
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "GET":
        csrf_token()
        return render_template("console/login.html", error=None)
    name = request.form.get("operator", "").strip().lower() or None
    account = account_key(name)
    attempt = Attempt(account, gates.known_device(account))
    wait = gates.gate().throttle.admit(attempt)
    # Not the name tried: a password typed into the name field would land in the log.
    client = {"client": request.remote_addr, "account": "operator" if name else "shared"}
    if wait is not None:
        log.warning("console log-in refused: too many failures", extra=client)
        error = f"Too many failed log-ins: try again in {_duration(wait)}."
        return render_template("console/login.html", error=error), 429
    checked = _checked(name, request.form.get("password", ""))
    if checked is None:
        log.info("console log-in failed", extra=client)
        return render_template("console/login.html", error=WRONG[name is not None]), 401
    gates.gate().throttle.succeeded(attempt)
    target = _safe_next(request.args.get("next"))
    gates.sign_in(*checked)
    csrf_token()
    log.info("console log-in", extra={**client, "operator": checked[1]})
    response = redirect(target)
    gates.remember_device(response, account, attempt.device)
    return response


@bp.post("/logout")
def logout() -> BaseResponse:
    session.clear()  # deletes it in Redis: a copy of the cookie opens nothing any more
    return redirect(url_for("console.login"))
