"""Settings read from the environment, in one place, each variable by name."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_CLERK_API_URL = "https://api.clerk.com/v1"
# Below Clerk's production limit of 1000 per 10 s; "90/10" suits a development instance.
DEFAULT_CLERK_API_RATE_LIMIT = "900/10"


class ConfigError(RuntimeError):
    """A required setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    redis_url: str
    signing_secrets: tuple[str, ...]
    clerk_secret_key: str | None
    clerk_api_url: str
    port: int
    queue: str
    max_body_bytes: int
    # Client-side limit on Backend API calls, "requests/seconds" (see worker.backfill.clerk_api).
    clerk_api_rate_limit: str = DEFAULT_CLERK_API_RATE_LIMIT
    # The console at /console/ is on only when a password is set (webhooks.console).
    console_password: str | None = None
    console_secret: str | None = None

    def require_database_url(self) -> str:
        if not self.database_url:
            raise ConfigError("DATABASE_URL is not set: point it at the mirror's Postgres")
        return self.database_url


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    port = _number(env, "PORT", "8000")
    max_body = _number(env, "CLERK_MIRROR_MAX_BODY_BYTES", str(1024 * 1024))
    return Settings(
        database_url=env.get("DATABASE_URL") or None,
        redis_url=env.get("REDIS_URL") or DEFAULT_REDIS_URL,
        signing_secrets=parse_secrets(env.get("CLERK_WEBHOOK_SIGNING_SECRET", "")),
        clerk_secret_key=env.get("CLERK_SECRET_KEY") or None,
        clerk_api_url=(env.get("CLERK_API_URL") or DEFAULT_CLERK_API_URL).rstrip("/"),
        port=port,
        queue=env.get("CLERK_MIRROR_QUEUE") or "clerk_mirror",
        max_body_bytes=max_body,
        clerk_api_rate_limit=env.get("CLERK_API_RATE_LIMIT") or DEFAULT_CLERK_API_RATE_LIMIT,
        console_password=env.get("CLERK_MIRROR_CONSOLE_PASSWORD") or None,
        console_secret=env.get("CLERK_MIRROR_CONSOLE_SECRET") or None,
    )


def web_threads(environ: Mapping[str, str] | None = None) -> int:
    """WEB_THREADS: gunicorn threads per web process, and so its database connections.

    Read by the web process alone. The pool follows this variable, not gunicorn's own
    --threads: set threads through WEB_THREADS (as the Procfile does) to keep the two
    equal, or a request may wait for a connection.
    """
    return max(1, _number(os.environ if environ is None else environ, "WEB_THREADS", "4"))


def metrics_port(environ: Mapping[str, str] | None = None) -> int | None:
    """CLERK_MIRROR_METRICS_PORT: where a worker serves its host's /metrics; None for off.

    Read by the worker alone, for hosts with no web process (whose /metrics serves the
    same files). Unset or empty: no endpoint.
    """
    env = os.environ if environ is None else environ
    if not (env.get("CLERK_MIRROR_METRICS_PORT") or "").strip():
        return None
    return _number(env, "CLERK_MIRROR_METRICS_PORT", "")


def _number(env: Mapping[str, str], name: str, default: str) -> int:
    raw = (env.get(name) or default).strip()
    if not raw.isdigit():
        raise ConfigError(f"{name} should be a whole number, got {raw!r}")
    return int(raw)


def parse_secrets(raw: str) -> tuple[str, ...]:
    """Split CLERK_WEBHOOK_SIGNING_SECRET: several secrets during a rotation."""
    return tuple(s for s in re.split(r"[\s,]+", raw) if s)
