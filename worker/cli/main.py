"""clerk-mirror: the operator's command line; its entry point reads the settings once."""

from __future__ import annotations

import os

import click

from worker import config, logs
from worker import migrate as migrations
from worker.cli.backfill import backfill
from worker.cli.classify import classify
from worker.cli.common import ConfigFailure, FailingCleanly, database_url
from worker.cli.console import console
from worker.cli.erase import erase
from worker.cli.inbox import purge, replay, status
from worker.cli.rehash import rehash
from worker.cli.report import report
from worker.cli.send_sample import send_sample


@click.group(cls=FailingCleanly)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Operate the Clerk phone-number mirror (reads DATABASE_URL and friends)."""
    # Read once for whichever command runs; each finds them with common.settings().
    try:
        ctx.obj = config.from_env(os.environ, (config.CLI,))
    except config.ConfigError as exc:
        raise ConfigFailure(str(exc)) from None
    logs.setup_logging(fmt=ctx.obj.log_format)


@main.command()
def migrate() -> None:
    """Create or upgrade the clerk schema; safe to run again."""
    try:
        done = migrations.migrate(database_url())
    except migrations.MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    if done.versions:
        click.echo(f"applied {', '.join(done.versions)}")
    if done.objects:
        click.echo(f"ran sql/{', sql/'.join(done.objects)}")
    if not done.versions and not done.objects:
        click.echo("schema is up to date")


main.add_command(replay)
main.add_command(status)
main.add_command(purge)
main.add_command(report)
main.add_command(send_sample, name="send-sample")
main.add_command(backfill)
main.add_command(erase)
main.add_command(rehash)
main.add_command(classify)
main.add_command(console)
