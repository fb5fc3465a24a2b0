"""POST /webhooks/clerk: verify the Svix signature, store the event in the inbox, wake a worker."""

from __future__ import annotations

import json
import logging

import psycopg
import psycopg_pool
from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from webhooks.runtime import runtime
from worker import metrics
from worker.mirror import strict_json
from worker.mirror.events import APPLIED_TYPES, envelope, storable

log = logging.getLogger(__name__)
bp = Blueprint("clerk", __name__)

# Svix sends svix-*; the Standard Webhooks names are accepted as well.
HEADER_NAMES = (
    ("svix-id", "webhook-id"),
    ("svix-timestamp", "webhook-timestamp"),
    ("svix-signature", "webhook-signature"),
)
MAX_ID_LENGTH = 255


def _error(status: int, message: str, event_type: str | None = None) -> tuple[Response, int]:
    outcome = "unavailable_503" if status == 503 else f"rejected_{status}"
    metrics.count_webhook(outcome, event_type)
    # The svix-id header, when there is one, and never the body: a payload holds numbers.
    svix_id = request.headers.get("svix-id") or request.headers.get("webhook-id")
    log.info("webhook refused", extra={"svix_id": svix_id, "status": status, "reason": message})
    return jsonify(error=message), status


@bp.post("/webhooks/clerk")
def receive() -> tuple[Response, int]:
    headers = {
        name: request.headers.get(name) or request.headers.get(alt) or ""
        for name, alt in HEADER_NAMES
    }
    if not all(headers.values()):
        return _error(400, "missing svix-id, svix-timestamp or svix-signature header")
    svix_id = headers["svix-id"]
    if len(svix_id) > MAX_ID_LENGTH:
        return _error(400, "svix-id is too long")
    if not storable(svix_id):
        return _error(400, "svix-id contains a NUL character")
    body = request.get_data(cache=False)
    if not runtime().verify(body, headers):
        return _error(401, "signature does not match, or the timestamp is outside 5 minutes")
    try:
        env = envelope(strict_json.loads(body))
    except strict_json.NotStorable as exc:
        return _error(400, str(exc))
    except (ValueError, RecursionError):
        env = None
    if env is None:
        return _error(400, "body is not a JSON event with a type and a data object")
    try:
        stored = runtime().store(svix_id, body, env)
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
        log.warning("inbox unavailable", extra={"svix_id": svix_id, "error": type(exc).__name__})
        response, status = _error(503, "the database is unavailable; retry later", env.event_type)
        response.headers["Retry-After"] = "5"
        return response, status
    runtime().notifier.accepted(
        svix_id, stored=stored.new, wake=stored.needs_wake and env.event_type in APPLIED_TYPES
    )
    accepted = "accepted" if env.event_type in APPLIED_TYPES else "ignored"
    metrics.count_webhook(accepted if stored.new else "duplicate", env.event_type)
    return _stored(svix_id, duplicate=not stored.new), 200


def _stored(svix_id: str, *, duplicate: bool) -> Response:
    """jsonify(svix_id=..., duplicate=...) to the byte (sorted keys, compact, a newline),
    made directly: jsonify's lookups of the app's JSON settings took longer than the rest
    of the answer."""
    flag = "true" if duplicate else "false"
    body = f'{{"duplicate":{flag},"svix_id":{json.dumps(svix_id)}}}\n'
    return Response(body, mimetype="application/json")


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(_: RequestEntityTooLarge) -> tuple[Response, int]:
    return _error(413, "body is over the size limit")
