"""clerk-mirror console: the console's operator accounts, and unlocking its log-in throttle."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
import psycopg

from worker import wakeup
from worker.cli.common import connect, database_url, settings
from worker.operators import accounts
from worker.operators.throttle import Throttle, console_keys


@click.group()
def console() -> None:
    """Operators' own accounts for the web console, and its log-in throttle."""


@contextmanager
def _accounts() -> Iterator[psycopg.Connection]:
    try:
        with connect(database_url()) as conn:
            yield conn
    except accounts.AccountError as exc:
        raise click.UsageError(str(exc)) from None


def _password() -> str:
    # Prompted (twice, hidden) or read from standard input: never an argument, which
    # `ps` and the shell's history would show.
    password: str = click.prompt("password", hide_input=True, confirmation_prompt=True)
    return password


def throttle() -> Throttle:
    found = settings()
    client = wakeup.client(found.redis_url)
    return Throttle(client, found.redis_url, f"{console_keys(found.queue)}:throttle")


@console.command()
@click.argument("name")
def add(name: str) -> None:
    """Add an operator NAME, asking for their password (12 characters or more)."""
    with _accounts() as conn:
        name = accounts.normal_name(name)
        if not accounts.add(conn, name, _password()):
            raise click.ClickException(f"operator {name} exists: use set-password")
    click.echo(f"added operator {name}")


@console.command("set-password")
@click.argument("name")
def set_password(name: str) -> None:
    """Give operator NAME a new password: their sessions end, their log-ins unlock."""
    with _accounts() as conn:
        name = accounts.normal_name(name)
        if not accounts.set_password(conn, name, _password()):
            raise click.ClickException(f"no operator {name}: add them first")
    throttle().unlock(name)
    click.echo(f"set a new password for {name}; their sessions have ended")


@console.command()
@click.argument("name")
def remove(name: str) -> None:
    """Remove operator NAME: their sessions end at once."""
    with _accounts() as conn:
        name = accounts.normal_name(name)
        if not accounts.remove(conn, name):
            raise click.ClickException(f"no operator {name}")
    click.echo(f"removed operator {name}")


@console.command("list")
def list_operators() -> None:
    """The operators, when each was added and last changed their password."""
    with _accounts() as conn:
        found = accounts.listed(conn)
    for op in found:
        click.echo(
            f"{op.name}\tadded {op.created_at:%Y-%m-%d}\tpassword {op.password_changed_at:%Y-%m-%d}"
        )
    if not found:
        click.echo(
            "no operators: the shared password (CLERK_MIRROR_CONSOLE_PASSWORD) is the way in"
        )


@console.command()
@click.argument("name", required=False)
@click.option("--shared", is_flag=True, help="The shared password's log-in.")
@click.option("--all", "everything", is_flag=True, help="Every count, browsers' own included.")
def unlock(name: str | None, shared: bool, everything: bool) -> None:
    """Let log-ins to operator NAME (or --shared, or --all) be checked again at once."""
    if sum((name is not None, shared, everything)) != 1:
        raise click.UsageError("name one operator, or --shared, or --all")
    throttle().unlock(name, everything=everything)
    click.echo(f"unlocked {'every log-in' if everything else name or 'the shared password'}")
