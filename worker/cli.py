"""clerk-mirror: the operator's command line."""

from __future__ import annotations

import click

from worker import config
from worker import migrate as migrations
from worker.backfill_cli import backfill
from worker.reports import report
from worker.sample import send_sample


def database_url() -> str:
    """DATABASE_URL, or a click error that says how to set it."""
    try:
        return config.from_env().require_database_url()
    except config.ConfigError as exc:
        raise click.UsageError(str(exc)) from None


@click.group()
def main() -> None:
    """Operate the Clerk phone-number mirror (reads DATABASE_URL and friends)."""


@main.command()
def migrate() -> None:
    """Create or upgrade the clerk schema; safe to run again."""
    applied = migrations.migrate(database_url())
    click.echo(f"applied {', '.join(applied)}" if applied else "schema is up to date")


main.add_command(report)
main.add_command(send_sample, name="send-sample")
main.add_command(backfill)
