"""The console's sessions: a random id in the cookie, the data in Redis (Flask-Session).

The cookie holds 32 random bytes and nothing else, so there is nothing in it to test a
password against, and deleting the data in Redis (log-out) ends the session wherever the
cookie was copied. What this adds to Flask-Session's Redis store:

- sessions exist only under /console/: no other route reads Redis for a cookie;
- data is JSON, never the pickle Flask-Session falls back to, so whoever can write to
  Redis cannot run code in the web;
- a signed-in session ends at a fixed time after its log-in (no sliding renewal): both the
  cookie and the Redis key expire then; one that never signed in lasts an hour;
- the cookie is Secure whenever the request came over HTTPS (through a trusted proxy, too);
- Redis being down is an answer (503), not a traceback.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from flask import Flask, Request, Response, request
from flask_session.base import Serializer, ServerSideSession
from flask_session.redis import RedisSessionInterface

log = logging.getLogger(__name__)

PREFIX = "/console/"
ANONYMOUS_S = 3600.0
UNAVAILABLE = "Redis is unavailable: the console keeps its sessions there. Try again shortly."


class JsonOnly(Serializer):  # type: ignore[misc]
    def encode(self, session: ServerSideSession) -> bytes:
        return json.dumps(dict(session), separators=(",", ":")).encode()

    def decode(self, serialized_data: bytes) -> dict[str, Any]:
        decoded = json.loads(serialized_data)
        if not isinstance(decoded, dict):
            raise ValueError("a console session is a JSON object")
        return decoded


def signed_in_at(session: ServerSideSession) -> float | None:
    auth = session.get("auth")
    at = auth.get("at") if isinstance(auth, dict) else None
    return float(at) if isinstance(at, int | float) else None


class ConsoleSessions(RedisSessionInterface):  # type: ignore[misc]
    def __init__(self, app: Flask, client: redis.Redis[bytes], key_prefix: str) -> None:
        super().__init__(app, client=client, key_prefix=key_prefix, sid_length=32)
        self.serializer = JsonOnly()
        self.lifetime_s = app.permanent_session_lifetime.total_seconds()

    def open_session(self, app: Flask, request: Request) -> ServerSideSession | None:
        if not request.path.startswith(PREFIX):
            return None  # Flask's null session: nothing outside the console keeps one
        try:
            found: ServerSideSession = super().open_session(app, request)
        except (redis.RedisError, ValueError) as exc:
            log.warning("console session unreadable", extra={"error": type(exc).__name__})
            found = self.session_class(sid=self._generate_sid(self.sid_length), permanent=True)
            found.unreadable = True
        return found

    def save_session(self, app: Flask, session: ServerSideSession, response: Response) -> None:
        try:
            super().save_session(app, session, response)
        except redis.RedisError as exc:
            log.warning("console session not saved", extra={"error": type(exc).__name__})
            response.status_code = 503
            response.set_data(UNAVAILABLE)
            response.mimetype = "text/plain"
            response.headers.pop("Location", None)

    def ends_at(self, session: ServerSideSession) -> float:
        at = signed_in_at(session)
        return time.time() + ANONYMOUS_S if at is None else at + self.lifetime_s

    def get_expiration_time(self, app: Flask, session: ServerSideSession) -> datetime:
        return datetime.fromtimestamp(self.ends_at(session), UTC)

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(request.is_secure or app.config["SESSION_COOKIE_SECURE"])

    def _upsert_session(
        self, session_lifetime: timedelta, session: ServerSideSession, store_id: str
    ) -> None:
        # Redis forgets the session when the cookie does: at the end of its fixed lifetime.
        left = max(1.0, self.ends_at(session) - time.time())
        super()._upsert_session(timedelta(seconds=left), session, store_id)
