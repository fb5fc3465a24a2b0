"""clerk-mirror: the operator's command line."""

from __future__ import annotations

import click

from worker import logs
from worker import migrate as migrations
from worker.cli.backfill import backfill
from worker.cli.common import FailingCleanly, database_url
from worker.cli.erase import erase
from worker.cli.inbox import purge, replay, status
from worker.cli.rehash import rehash
from worker.cli.report import report
from worker.cli.send_sample import send_sample


@click.group(cls=FailingCleanly)
def main() -> None:
    """Operate the Clerk phone-number mirror (reads DATABASE_URL and friends)."""
    logs.setup_logging()


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
