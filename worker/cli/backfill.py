"""clerk-mirror backfill: fill (and with --reconcile, reconcile) the mirror from Clerk."""

from __future__ import annotations

import time
from typing import Any

import click
import psycopg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from worker import config
from worker.backfill import run as backfills
from worker.backfill.clerk_api import ClerkAPIError, ClerkClient
from worker.cli.common import clerk_failure, database_failure, settings

RESUME = "continue later with `clerk-mirror backfill --resume`"


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} users/s")


@click.command()
@click.option("--resume", is_flag=True, help="Continue the most recent unfinished run.")
@click.option(
    "--reconcile",
    is_flag=True,
    help="After a complete listing, tombstone live users that Clerk no longer has.",
)
@click.option(
    "--rate-limit",
    metavar="N/SECONDS",
    help="Client-side limit on API calls, e.g. 90/10 for a development instance "
    "(default: CLERK_API_RATE_LIMIT, else 900/10; 'off' for none).",
)
def backfill(resume: bool, reconcile: bool, rate_limit: str | None) -> None:
    """Load every Clerk user into the mirror through the webhooks' apply path.

    Reads DATABASE_URL, CLERK_SECRET_KEY and CLERK_API_URL. Safe to repeat: an unchanged
    user is a no-op and a newer webhook is never overwritten.
    """
    chosen = settings()
    try:
        database_url = chosen.require_database_url()
        client = backfills.open_client(chosen, rate_limit)
    except config.ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    with client:
        started = time.monotonic()
        summary, listed = _run(
            database_url, client, resume=resume, reconcile=reconcile, pii_key=chosen.pii_key
        )
    click.echo(_describe(summary, listed, time.monotonic() - started))


def _run(database_url: str, client: ClerkClient, **options: Any) -> tuple[dict[str, Any], int]:
    """Run with a progress bar on stderr (when it is a terminal); the run and users listed."""
    console = Console(stderr=True)
    try:
        # Asked first: a bad key fails here, before any run is recorded.
        total = client.count_users()
        with Progress(
            TextColumn("users"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,
        ) as progress:
            task = progress.add_task("backfill", total=total)
            run = backfills.run(
                database_url, client, on_page=lambda n: progress.advance(task, n), **options
            )
            return run, int(progress.tasks[0].completed)
    except config.ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except KeyboardInterrupt:
        raise click.ClickException(
            "interrupted; continue with: clerk-mirror backfill --resume"
        ) from None
    except backfills.BackfillBusy as exc:
        raise click.ClickException(str(exc)) from None
    except ClerkAPIError as exc:
        raise clerk_failure(exc, RESUME) from None
    except psycopg.Error as exc:
        raise database_failure(exc, RESUME) from None


def _describe(run: dict[str, Any], listed: int, seconds: float) -> str:
    rate = listed / seconds if seconds > 0 else 0.0
    line = (
        f"backfill run {run['id']} {run['status']}: {run['users_seen']:,} users listed,"
        f" {run['users_changed']:,} changed, {run['pages']} pages;"
        f" {listed:,} users this time in {seconds:.1f} s ({rate:,.0f} users/s)"
    )
    if run["reconcile"]:
        line += f"; {run['tombstoned']:,} tombstoned as deleted"
    return line
