"""clerk-mirror: the operator's command line."""

from __future__ import annotations

import click

from worker import config, logs
from worker import migrate as migrations


def database_url() -> str:
    """DATABASE_URL, or a click error that says how to set it."""
    try:
        return config.from_env().require_database_url()
    except config.ConfigError as exc:
        raise click.UsageError(str(exc)) from None


@click.group()
def main() -> None:
    """Operate the Clerk phone-number mirror (reads DATABASE_URL and friends)."""
    logs.setup_logging()


@main.command()
def migrate() -> None:
    """Create or upgrade the clerk schema; safe to run again."""
    applied = migrations.migrate(database_url())
    click.echo(f"applied {', '.join(applied)}" if applied else "schema is up to date")
