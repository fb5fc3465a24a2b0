"""POST /webhooks/clerk: verify the Svix signature, store the event in the inbox, wake a worker.

The endpoint is a WSGI app in front of Flask (Endpoint), not a Flask view: the web's
busiest path does not pay for Flask's contexts, routing and Response objects, which
cost about 135 µs of CPU a request in process, more than the endpoint's own work
(verify, parse, the inbox write). Every other path is Flask's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import psycopg
import psycopg_pool
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_input_stream

from webhooks.runtime import Runtime
from worker import metrics
from worker.mirror import strict_json
from worker.mirror.events import APPLIED_TYPES, envelope, storable

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

PATH = "/webhooks/clerk"
# Svix sends svix-*; the Standard Webhooks names are accepted as well. The WSGI keys of
# each header, as a server files them.
HEADER_NAMES = (
    ("svix-id", "webhook-id"),
    ("svix-timestamp", "webhook-timestamp"),
    ("svix-signature", "webhook-signature"),
)
_ENVIRON_KEYS = tuple(
    (name, *("HTTP_" + h.upper().replace("-", "_") for h in (name, alt)))
    for name, alt in HEADER_NAMES
)
MAX_ID_LENGTH = 255
JSON = ("Content-Type", "application/json")

Answer = tuple[int, bytes, list[tuple[str, str]]]


class Endpoint:
    """POST /webhooks/clerk, answered before the request reaches Flask; anything else on
    that path is a 405, and every other path goes on to `app`."""

    def __init__(self, app: WSGIApplication, rt: Runtime, max_body: int) -> None:
        self.app, self.rt, self.max_body = app, rt, max_body

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") == "POST":
            status, body, headers = self.receive(environ)
        else:
            status, body, headers = 405, _json(error="POST an event"), [("Allow", "POST")]
        start_response(
            f"{status} {HTTP_STATUS_CODES[status].upper()}",
            [JSON, ("Content-Length", str(len(body))), *headers],
        )
        return [body]

    def receive(self, environ: WSGIEnvironment) -> Answer:
        headers = {
            name: environ.get(key) or environ.get(alt) or "" for name, key, alt in _ENVIRON_KEYS
        }
        if not all(headers.values()):
            return refuse(environ, 400, "missing svix-id, svix-timestamp or svix-signature header")
        svix_id = headers["svix-id"]
        if len(svix_id) > MAX_ID_LENGTH:
            return refuse(environ, 400, "svix-id is too long")
        if not storable(svix_id):
            return refuse(environ, 400, "svix-id contains a NUL character")
        try:
            body = get_input_stream(environ, max_content_length=self.max_body).read()
        except RequestEntityTooLarge:
            return refuse(environ, 413, "body is over the size limit")
        if not self.rt.verify(body, headers):
            return refuse(
                environ, 401, "signature does not match, or the timestamp is outside 5 minutes"
            )
        try:
            env = envelope(strict_json.loads(body))
        except strict_json.NotStorable as exc:
            return refuse(environ, 400, str(exc))
        except (ValueError, RecursionError):
            env = None
        if env is None:
            return refuse(environ, 400, "body is not a JSON event with a type and a data object")
        try:
            stored = self.rt.store(svix_id, body, env)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            log.warning(
                "inbox unavailable", extra={"svix_id": svix_id, "error": type(exc).__name__}
            )
            status, answer, _ = refuse(
                environ, 503, "the database is unavailable; retry later", env.event_type
            )
            return status, answer, [("Retry-After", "5")]
        self.rt.notifier.accepted(
            svix_id, stored=stored.new, wake=stored.needs_wake and env.event_type in APPLIED_TYPES
        )
        accepted = "accepted" if env.event_type in APPLIED_TYPES else "ignored"
        metrics.count_webhook(accepted if stored.new else "duplicate", env.event_type)
        return 200, stored_answer(svix_id, duplicate=not stored.new), []


def refuse(
    environ: WSGIEnvironment, status: int, message: str, event_type: str | None = None
) -> Answer:
    outcome = "unavailable_503" if status == 503 else f"rejected_{status}"
    metrics.count_webhook(outcome, event_type)
    # The svix-id header, when there is one, and never the body: a payload holds numbers.
    _, key, alt = _ENVIRON_KEYS[0]
    svix_id = environ.get(key) or environ.get(alt)
    log.info("webhook refused", extra={"svix_id": svix_id, "status": status, "reason": message})
    return status, _json(error=message), []


def stored_answer(svix_id: str, *, duplicate: bool) -> bytes:
    """The 200 answer: jsonify(svix_id=..., duplicate=...) to the byte (sorted keys)."""
    return _json(duplicate=duplicate, svix_id=svix_id)


def _json(**fields: object) -> bytes:
    """What Flask's jsonify sends outside debug mode: sorted keys, compact, a newline."""
    return (json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n").encode()
