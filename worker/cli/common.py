"""How every clerk-mirror command finds its database and fails: one or two lines, a distinct code.

The group in main.py is a FailingCleanly group: whatever command runs under it (new
ones included) has its unreachable database or Clerk API turned into a message that
names what failed and how to fix it, and an exit code of its own, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import psycopg
import redis

from worker import config, db
from worker.backfill.clerk_api import ClerkAPIError

# Exit codes: 0 done, 1 any other error, 2 usage or configuration (click's own).
EXIT_DATABASE = 3
EXIT_CLERK_API = 4
EXIT_REPLAY_FAILED = 5
EXIT_REDIS = 6
# Where `make run` (scripts/dev-run) writes its embedded database's URL.
DEV_DATABASE_FILE = Path(".data") / "database-url"
CONNECT_TIMEOUT_S = 5


class ConfigFailure(click.ClickException):
    """A setting is malformed: one line naming the variable, click's usage exit code."""

    exit_code = 2


class DatabaseFailure(click.ClickException):
    """Postgres is unreachable or refused the command."""

    exit_code = EXIT_DATABASE


class ClerkFailure(click.ClickException):
    """Clerk's Backend API is unreachable or answered something unusable."""

    exit_code = EXIT_CLERK_API


class RedisFailure(click.ClickException):
    """Redis is unreachable (the console's throttle lives there)."""

    exit_code = EXIT_REDIS


class ReplayFailed(click.ClickException):
    """A replayed event failed again."""

    exit_code = EXIT_REPLAY_FAILED


def _dev_database_url() -> str | None:
    """make run's database URL, from .data/database-url in this checkout (or above)."""
    here = Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / DEV_DATABASE_FILE
        if candidate.is_file():
            url = candidate.read_text().strip()
            if url:
                click.echo(
                    f"DATABASE_URL is not set: using make run's database ({candidate})", err=True
                )
                return url
    return None


def settings() -> config.Settings:
    """The settings the group (worker.cli.main) read for this command."""
    found = click.get_current_context().find_root().obj
    if not isinstance(found, config.Settings):
        raise RuntimeError("no settings: run the command through the clerk-mirror group")
    return found


def database_url(*, or_make_runs: bool = False) -> str:
    """DATABASE_URL, else (for reading commands) make run's database, else a usage error.

    Only commands that read (status, report) fall back: a write goes where it was told.
    """
    try:
        return settings().require_database_url()
    except config.ConfigError as exc:
        url = _dev_database_url() if or_make_runs else None
        if url:
            return url
        raise click.UsageError(str(exc)) from None


def connect(url: str, **options: Any) -> psycopg.Connection:
    """A connection that gives up after a few seconds instead of hanging on a dead host."""
    if "connect_timeout" not in url:
        options.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    return db.connect(url, **options)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def database_failure(exc: psycopg.Error, hint: str = "") -> DatabaseFailure:
    if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.InvalidSchemaName):
        fix = "the database has no clerk schema yet: run `clerk-mirror migrate`"
    elif isinstance(exc, psycopg.OperationalError):
        fix = "check DATABASE_URL and that Postgres is up (after `make run`, keep it running)"
    else:
        fix = "check DATABASE_URL's role and the schema (`clerk-mirror migrate`)"
    more = f"; {hint}" if hint else ""
    return DatabaseFailure(f"Postgres failed: {_first_line(exc)}\n{fix}{more}")


def clerk_failure(exc: Exception, hint: str = "") -> ClerkFailure:
    more = f"; {hint}" if hint else ""
    return ClerkFailure(
        f"Clerk's Backend API failed: {_first_line(exc)}\n"
        f"check CLERK_API_URL and the network, then retry{more}"
    )


class FailingCleanly(click.Group):
    """A click group whose commands fail in one or two lines with a distinct exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except psycopg.Error as exc:
            raise database_failure(exc) from None
        except ClerkAPIError as exc:
            raise clerk_failure(exc) from None
        except redis.RedisError as exc:
            raise RedisFailure(
                f"Redis failed: {_first_line(exc)}\ncheck REDIS_URL and that Redis is up"
            ) from None
