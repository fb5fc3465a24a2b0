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


def _number(env: Mapping[str, str], name: str, default: str) -> int:
    raw = (env.get(name) or default).strip()
    if not raw.isdigit():
        raise ConfigError(f"{name} should be a whole number, got {raw!r}")
    return int(raw)


def parse_secrets(raw: str) -> tuple[str, ...]:
    """Split CLERK_WEBHOOK_SIGNING_SECRET: several secrets during a rotation."""
    return tuple(s for s in re.split(r"[\s,]+", raw) if s)


# Stand-in: the documented list of variables, which the docs' configuration page is built
# from, until Settings itself is parsed from such a list.
@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    default: str  # the documented default, as text
    meaning: str  # one or two sentences for the docs
    processes: str  # who reads it: all, web, worker, beat, cli (or several)


VARIABLES: tuple[Variable, ...] = (
    Variable("DATABASE_URL", "none", "Postgres connection string.", "all"),
    Variable("REDIS_URL", DEFAULT_REDIS_URL, "The Celery broker.", "web, worker, beat"),
    Variable(
        "CLERK_WEBHOOK_SIGNING_SECRET",
        "none",
        "The endpoint's whsec_... secret; during a rotation several, separated by spaces or"
        " commas. The web process refuses to start without it.",
        "web",
    ),
    Variable("CLERK_SECRET_KEY", "none", "sk_... Backend API key, for backfill.", "worker, cli"),
    Variable("CLERK_API_URL", DEFAULT_CLERK_API_URL, "Backend API base.", "worker, cli"),
    Variable("PORT", "8000", "The web port.", "web"),
    Variable(
        "CLERK_MIRROR_MAX_BODY_BYTES",
        "1048576",
        "Largest webhook body accepted (413 above).",
        "web",
    ),
    Variable(
        "CLERK_MIRROR_QUEUE",
        "clerk_mirror",
        "Celery queue name (and prefix of its Redis keys).",
        "web, worker, beat",
    ),
    Variable(
        "CLERK_MIRROR_SWEEP_INTERVAL",
        "30",
        "Seconds between sweeps for pending events whose wake-up was lost.",
        "beat",
    ),
    Variable(
        "CLERK_MIRROR_SWEEP_GRACE",
        "10",
        "Seconds an event may wait before the sweep wakes a worker for it.",
        "worker",
    ),
    Variable(
        "CLERK_MIRROR_RETENTION_DAYS",
        "30",
        "Days to keep applied events' raw payloads; 0 keeps them.",
        "worker, beat",
    ),
    Variable(
        "CLERK_MIRROR_PII_KEY",
        "none",
        "Secret key of phone_number_hash (HMAC-SHA256); without it the hash columns stay NULL."
        " Keep it stable (see Privacy).",
        "worker, beat, cli",
    ),
    Variable(
        "CLERK_MIRROR_ERASE_DELETED_AFTER_DAYS",
        "30",
        "Erase deleted users' personal data this many days after their deletion; 0 at once,"
        " off never.",
        "beat, worker",
    ),
    Variable(
        "CLERK_API_RATE_LIMIT",
        DEFAULT_CLERK_API_RATE_LIMIT,
        "Backfill's client-side limit, requests/seconds, or off.",
        "worker, cli",
    ),
    Variable(
        "CLERK_MIRROR_RECONCILE_INTERVAL",
        "none",
        "Seconds between scheduled backfills with reconciliation; unset, they are off.",
        "beat",
    ),
    Variable(
        "PROMETHEUS_MULTIPROC_DIR",
        "a directory under the system temp dir",
        "Where web and worker processes share their metrics (one host).",
        "web, worker",
    ),
    Variable(
        "CLERK_MIRROR_CONSOLE_PASSWORD",
        "none",
        "Turns the console at /console/ on, and is the password to log in; unset, /console/"
        " answers 404.",
        "web",
    ),
    Variable(
        "CLERK_MIRROR_CONSOLE_SECRET",
        "derived from the password",
        "Key that signs the console's session cookie; set it to keep sessions apart from the"
        " password.",
        "web",
    ),
    Variable(
        "LOG_FORMAT",
        "text at a terminal, else json",
        "json or text.",
        "all",
    ),
    Variable("WEB_CONCURRENCY", "3", "gunicorn processes.", "web"),
    Variable(
        "WEB_THREADS",
        "4",
        "Threads per web process, each with its own database connection.",
        "web",
    ),
    Variable("CELERY_CONCURRENCY", "2", "Celery worker processes.", "worker"),
)
