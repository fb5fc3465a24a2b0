"""The console's log-in: one shared password, compared in constant time, failures slowed."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from dataclasses import dataclass, field

from flask import current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from webhooks.console.blueprint import bp, csrf_token

log = logging.getLogger(__name__)

# Every failure costs its sender this long before the answer; from the FREE_FAILURES-th
# on, the next attempt is refused unchecked for a wait that doubles, up to MAX_WAIT_S.
FAILURE_DELAY_S = 0.5
FREE_FAILURES = 3
MAX_WAIT_S = 300.0
FORGET_AFTER_S = 900.0


@dataclass
class Guard:
    """The password, and the recent failures per client address (in this process)."""

    password: str
    failures: dict[str, tuple[int, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def fingerprint(self) -> str:
        # What a session holds: changing the password signs everyone out, even with a
        # CLERK_MIRROR_CONSOLE_SECRET that stays the same.
        return hashlib.sha256(b"console:" + self.password.encode()).hexdigest()[:32]

    def recognises(self, value: object) -> bool:
        return isinstance(value, str) and hmac.compare_digest(value, self.fingerprint)

    def check(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.password.encode())

    def wait_s(self, client: str, now: float) -> float:
        """How long this client must wait before its next attempt is even checked."""
        with self.lock:
            count, last = self.failures.get(client, (0, 0.0))
        if count < FREE_FAILURES or now - last > FORGET_AFTER_S:
            return 0.0
        wait = min(MAX_WAIT_S, 2.0 ** (count - FREE_FAILURES))
        return max(0.0, last + wait - now)

    def failed(self, client: str, now: float) -> None:
        with self.lock:
            count, last = self.failures.get(client, (0, 0.0))
            count = 0 if now - last > FORGET_AFTER_S else count
            self.failures[client] = (count + 1, now)

    def succeeded(self, client: str) -> None:
        with self.lock:
            self.failures.pop(client, None)


def guard() -> Guard:
    found: Guard = current_app.extensions["clerk_mirror_console"]
    return found


def _safe_next(target: str | None) -> str:
    # Only paths inside the console: never an open redirect to another site.
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return url_for("console.overview")


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | tuple[str, int] | str:
    if request.method == "GET":
        csrf_token()
        return render_template("console/login.html", error=None)
    client = request.remote_addr or "unknown"
    wait = guard().wait_s(client, time.monotonic())
    if wait > 0:
        error = f"Too many failed log-ins: try again in {wait:.0f} s."
        return render_template("console/login.html", error=error), 429
    if not guard().check(request.form.get("password", "")):
        guard().failed(client, time.monotonic())
        log.info("console log-in failed", extra={"client": client})
        time.sleep(FAILURE_DELAY_S)
        return render_template("console/login.html", error="Wrong password."), 401
    guard().succeeded(client)
    target = _safe_next(request.args.get("next"))
    session.clear()  # a fresh session (and CSRF token) at each log-in
    session.permanent = True
    session["auth"] = guard().fingerprint
    csrf_token()
    log.info("console log-in", extra={"client": client})
    return redirect(target)


@bp.post("/logout")
def logout() -> BaseResponse:
    session.clear()
    return redirect(url_for("console.login"))
