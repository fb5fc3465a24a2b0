"""Settings: every variable of worker.variables, parsed and checked once, each error naming it.

Each process reads its settings once, at its entry point, and hands them down: the web in
webhooks.create_app, the worker and beat in worker.app, the command line in worker.cli.main.
Nothing else reads the environment. A process parses only the variables it reads, so that
a bad worker-only setting never stops the web; the fields of the others keep their
defaults (their paths are None). from_env() takes a mapping: tests hand it their own.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from worker.directories import DirectoryRefused, own_directory
from worker.variables import CELERY, CLI, PROCESSES, VARIABLES, WEB, Variable

__all__ = ["CELERY", "CLI", "PROCESSES", "VARIABLES", "WEB", "ConfigError", "Settings", "Variable"]

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_CLERK_API_URL = "https://api.clerk.com/v1"
# Below Clerk's production limit of 1000 per 10 s; "90/10" suits a development instance.
DEFAULT_CLERK_API_RATE_LIMIT = "900/10"
DEFAULT_QUEUE = "clerk_mirror"
LOG_FORMATS = ("json", "text")
# The console's secret signs cookies and keys HMACs: at least 256 bits of a random token.
MIN_CONSOLE_SECRET = 32
# Svix retries a delivery for about 3 days; only a row still in the inbox makes a
# redelivery a duplicate, so no inbox row goes sooner (CLERK_MIRROR_INBOX_KEEP_DAYS).
SVIX_REDELIVERY_DAYS = 3
HOW_TO_MAKE_ONE = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_KNOWN = frozenset(v.name for v in VARIABLES)


class ConfigError(RuntimeError):
    """A required setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    redis_url: str
    signing_secrets: tuple[str, ...]
    clerk_secret_key: str | None
    clerk_api_url: str
    # Client-side limit on Backend API calls: (requests, seconds), None for none.
    clerk_api_rate_limit: tuple[int, float] | None
    queue: str
    port: int
    web_threads: int
    max_body_bytes: int
    read_timeout_s: float  # a whole request in, and its answer out (webhooks.serving)
    # The console at /console/ is on only when a password is set (webhooks.console), and
    # then has a secret of its own: nothing of it is derived from the password.
    console_password: str | None
    console_secret: str | None
    console_user_header: str | None
    trusted_proxies: tuple[Network, ...]
    pii_key: bytes | None
    erase_after_days: int | None  # None: off
    retention_days: int  # 0: keep payloads
    inbox_keep_days: int | None  # None: keep closed rows
    sweep_interval_s: float
    sweep_grace_s: float
    reconcile_interval_s: float  # 0: off
    log_format: str | None  # None: text on a terminal, else JSON
    beat_schedule: Path | None
    metrics_dir: Path | None
    # Where a worker serves its host's metric files (hosts with no web process); None: off.
    metrics_port: int | None = None

    def require_database_url(self) -> str:
        if not self.database_url:
            raise ConfigError("DATABASE_URL is not set: point it at the mirror's Postgres")
        return self.database_url


def from_env(environ: Mapping[str, str], processes: Collection[str] = PROCESSES) -> Settings:
    """The settings these processes read from environ (all of them by default)."""
    env = _Reader(environ, processes)
    queue = env.text("CLERK_MIRROR_QUEUE") or DEFAULT_QUEUE
    state = _state_dir(env)
    proxies = parse_networks(env.text("CLERK_MIRROR_TRUSTED_PROXIES") or "")
    return Settings(
        database_url=env.text("DATABASE_URL"),
        redis_url=env.text("REDIS_URL") or DEFAULT_REDIS_URL,
        signing_secrets=parse_secrets(env.text("CLERK_WEBHOOK_SIGNING_SECRET") or ""),
        clerk_secret_key=env.text("CLERK_SECRET_KEY"),
        clerk_api_url=(env.text("CLERK_API_URL") or DEFAULT_CLERK_API_URL).rstrip("/"),
        clerk_api_rate_limit=parse_rate_limit(
            env.text("CLERK_API_RATE_LIMIT") or DEFAULT_CLERK_API_RATE_LIMIT
        ),
        queue=queue,
        port=env.number("PORT", 8000),
        web_threads=max(1, env.number("WEB_THREADS", 4)),
        max_body_bytes=env.number("CLERK_MIRROR_MAX_BODY_BYTES", 1024 * 1024),
        read_timeout_s=_read_timeout(env),
        console_password=env.text("CLERK_MIRROR_CONSOLE_PASSWORD"),
        console_secret=_console_secret(env),
        console_user_header=_user_header(env, proxies),
        trusted_proxies=proxies,
        pii_key=_key(env.text("CLERK_MIRROR_PII_KEY")),
        erase_after_days=_erase_after_days(env),
        retention_days=env.number("CLERK_MIRROR_RETENTION_DAYS", 30, "days (0 = keep)"),
        inbox_keep_days=_inbox_keep_days(env),
        sweep_interval_s=env.seconds("CLERK_MIRROR_SWEEP_INTERVAL", 30.0),
        sweep_grace_s=env.seconds("CLERK_MIRROR_SWEEP_GRACE", 10.0),
        reconcile_interval_s=env.seconds("CLERK_MIRROR_RECONCILE_INTERVAL", 0.0),
        log_format=_log_format(env.text("LOG_FORMAT")),
        beat_schedule=env.path("CELERY_BEAT_SCHEDULE", state, f"beat-schedule-{_safe(queue)}"),
        metrics_dir=env.path("PROMETHEUS_MULTIPROC_DIR", state, f"metrics-{_safe(queue)}"),
        metrics_port=env.number("CLERK_MIRROR_METRICS_PORT", 0) or None,
    )


class _Reader:
    """The variables these processes read from environ; the others read as unset."""

    def __init__(self, environ: Mapping[str, str], processes: Collection[str]) -> None:
        self.environ = environ
        self.read = frozenset(v.name for v in VARIABLES if v.read_by(processes))

    def text(self, name: str) -> str | None:
        if name not in _KNOWN:
            raise KeyError(f"{name} is not in worker.variables: add it there")
        return (self.environ.get(name) or None) if name in self.read else None

    def number(self, name: str, default: int, what: str = "a whole number") -> int:
        raw = (self.text(name) or str(default)).strip()
        if not raw.isdigit():
            raise ConfigError(f"{name} should be {what}, got {raw!r}")
        return int(raw)

    def seconds(self, name: str, default: float) -> float:
        raw = self.text(name)
        try:
            value = float(raw) if raw is not None else default
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} should be a number of seconds, got {raw!r}")
        return value

    def path(self, name: str, state: Path | None, default: str) -> Path | None:
        """The variable as a path, else `default` in the state directory (None: not read)."""
        raw = self.text(name)
        if raw is not None:
            return Path(raw).expanduser().absolute()
        return state / default if state is not None and name in self.read else None


def _state_dir(env: _Reader) -> Path | None:
    """The app's own state directory, clerk-mirror/ in XDG_STATE_HOME; None: not read."""
    if "XDG_STATE_HOME" not in env.read:
        return None
    raw = env.text("XDG_STATE_HOME")
    if raw is not None and not os.path.isabs(raw):
        raise ConfigError(f"XDG_STATE_HOME should be an absolute path, got {raw!r}")
    try:
        base = Path(raw) if raw is not None else Path.home() / ".local" / "state"
    except RuntimeError:
        raise ConfigError("XDG_STATE_HOME is not set and this user has no home") from None
    return base / "clerk-mirror"


def _read_timeout(env: _Reader) -> float:
    timeout = env.seconds("CLERK_MIRROR_READ_TIMEOUT", 10.0)
    if timeout == 0:
        raise ConfigError("CLERK_MIRROR_READ_TIMEOUT should be a number of seconds over 0, got '0'")
    return timeout


def _console_secret(env: _Reader) -> str | None:
    """CLERK_MIRROR_CONSOLE_SECRET, required (and long enough) once the console is on."""
    on = env.text("CLERK_MIRROR_CONSOLE_PASSWORD") is not None
    secret = (env.text("CLERK_MIRROR_CONSOLE_SECRET") or "").strip() or None
    if on and secret is None:
        raise ConfigError(
            "CLERK_MIRROR_CONSOLE_SECRET is not set: the console (on, as"
            " CLERK_MIRROR_CONSOLE_PASSWORD is set) needs a random secret of its own; make one"
            f" with {HOW_TO_MAKE_ONE}"
        )
    if on and secret is not None and len(secret) < MIN_CONSOLE_SECRET:
        raise ConfigError(
            f"CLERK_MIRROR_CONSOLE_SECRET should be a random string of at least"
            f" {MIN_CONSOLE_SECRET} characters, got {len(secret)}; make one with {HOW_TO_MAKE_ONE}"
        )
    return secret


def _user_header(env: _Reader, proxies: tuple[Network, ...]) -> str | None:
    raw = (env.text("CLERK_MIRROR_CONSOLE_USER_HEADER") or "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"[A-Za-z0-9-]+", raw):
        raise ConfigError(f"CLERK_MIRROR_CONSOLE_USER_HEADER should be a header name, got {raw!r}")
    if not proxies:
        raise ConfigError(
            "CLERK_MIRROR_CONSOLE_USER_HEADER needs CLERK_MIRROR_TRUSTED_PROXIES: the header"
            " is believed only from the proxy's addresses"
        )
    return raw


def parse_networks(raw: str) -> tuple[Network, ...]:
    """CLERK_MIRROR_TRUSTED_PROXIES: addresses or CIDR networks, by spaces or commas."""
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in parse_secrets(raw))
    except ValueError:
        raise ConfigError(
            f"CLERK_MIRROR_TRUSTED_PROXIES should list addresses or networks such as"
            f" 10.0.0.0/8, got {raw!r}"
        ) from None


def _erase_after_days(env: _Reader) -> int | None:
    raw = (env.text("CLERK_MIRROR_ERASE_DELETED_AFTER_DAYS") or "30").strip()
    if raw.lower() == "off":
        return None
    if not raw.isdigit():
        raise ConfigError(
            f"CLERK_MIRROR_ERASE_DELETED_AFTER_DAYS should be days, 0 or off, got {raw!r}"
        )
    return int(raw)


def _inbox_keep_days(env: _Reader) -> int | None:
    raw = (env.text("CLERK_MIRROR_INBOX_KEEP_DAYS") or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < SVIX_REDELIVERY_DAYS:
        raise ConfigError(
            f"CLERK_MIRROR_INBOX_KEEP_DAYS should be days, at least {SVIX_REDELIVERY_DAYS}"
            f" (Svix may redeliver an event that long), got {raw!r}"
        )
    return int(raw)


def _log_format(raw: str | None) -> str | None:
    chosen = (raw or "").strip().lower()
    if chosen in ("", "auto"):
        return None
    if chosen not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT should be json, text or auto, got {raw!r}")
    return chosen


def _key(raw: str | None) -> bytes | None:
    key = (raw or "").strip()
    return key.encode() if key else None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def parse_secrets(raw: str) -> tuple[str, ...]:
    """Split CLERK_WEBHOOK_SIGNING_SECRET: several secrets during a rotation."""
    return tuple(s for s in re.split(r"[\s,]+", raw) if s)


def parse_rate_limit(text: str, name: str = "CLERK_API_RATE_LIMIT") -> tuple[int, float] | None:
    """'900/10' means 900 requests per 10 s; 'off' or '0' means no client-side limit."""
    if text.strip().lower() in ("off", "0", "none"):
        return None
    requests, _, seconds = text.partition("/")
    try:
        rate = (int(requests), float(seconds or "1"))
    except ValueError:
        rate = (0, 0.0)
    if rate[0] <= 0 or not (math.isfinite(rate[1]) and rate[1] > 0):
        raise ConfigError(f"{name} should look like 900/10 (requests per seconds), got {text!r}")
    return rate


def metrics_dir(settings: Settings) -> Path:
    """PROMETHEUS_MULTIPROC_DIR, made 0700 when missing; refused unless this user's and private.

    Anyone who can write there forges the metrics, or plants a symlink that the process
    then writes through.
    """
    if settings.metrics_dir is None:
        raise ConfigError("PROMETHEUS_MULTIPROC_DIR is not read by this process")
    try:
        return own_directory(settings.metrics_dir, "PROMETHEUS_MULTIPROC_DIR", private=True)
    except DirectoryRefused as exc:
        raise ConfigError(str(exc)) from None


def beat_schedule(settings: Settings) -> Path:
    """CELERY_BEAT_SCHEDULE, in a directory made 0700 when missing; refused when another user
    owns that directory or may write to it: the schedule is a pickle, run as beat."""
    if settings.beat_schedule is None:
        raise ConfigError("CELERY_BEAT_SCHEDULE is not read by this process")
    try:
        own_directory(settings.beat_schedule.parent, "CELERY_BEAT_SCHEDULE", private=False)
    except DirectoryRefused as exc:
        raise ConfigError(str(exc)) from None
    return settings.beat_schedule


def tell_prometheus(directory: Path) -> None:
    """Hand the checked directory to prometheus_client, which reads only the environment
    (in every process, and again after each fork)."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
