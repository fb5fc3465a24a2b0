"""clerk-mirror erase: answer a data subject's erasure request, by user id or number."""

from __future__ import annotations

import click
import psycopg

from worker.cli.common import connect, database_url
from worker.privacy import erase as privacy


@click.command()
@click.option("--user", "users", multiple=True, help="A Clerk user id (repeatable).")
@click.option("--phone", "phones", multiple=True, help="An E.164 number (repeatable).")
@click.option("--dry-run", is_flag=True, help="Print what would be erased; change nothing.")
def erase(users: tuple[str, ...], phones: tuple[str, ...], dry_run: bool) -> None:
    """Erase people: numbers, links and raw payloads to NULL in every table; tombstone them."""
    if not users and not phones:
        raise click.UsageError("name whom to erase: --user USER_ID or --phone +E164")
    if any(not user.strip() for user in users):
        raise click.BadParameter("a user id cannot be empty", param_hint="--user")
    # A dry run does all the work and rolls it back, so its counts are the real ones.
    with (
        connect(database_url(), autocommit=True) as conn,
        conn.transaction(force_rollback=dry_run),
    ):
        user_ids, lines = _resolve(conn, users, phones, dry_run)
        done = privacy.erase_users(conn, user_ids)
    for line in lines:
        click.echo(line)
    verb = "would change" if dry_run else "changed"
    for item in done:
        click.echo(f"{item.user_id}: {verb} {item.rows} row{'' if item.rows == 1 else 's'}")


def _resolve(
    conn: psycopg.Connection, users: tuple[str, ...], phones: tuple[str, ...], dry_run: bool
) -> tuple[list[str], list[str]]:
    """The users to erase, and a line for each number that names nobody."""
    user_ids, lines = list(users), []
    for number in phones:
        try:
            found = privacy.holders(conn, number)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--phone") from None
        user_ids += found
        if not found:
            forgotten = privacy.forget_number(conn, number)
            verb = "would forget" if dry_run else "forgot"
            lines.append(
                f"{privacy.mask(number)}: no user holds it; {verb} {forgotten} row(s)"
                " that mention it"
            )
    return user_ids, lines
