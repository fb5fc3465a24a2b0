"""clerk-mirror replay, status and purge: the operator's tools on the inbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import psycopg

from worker import logs
from worker.cli.common import ReplayFailed, connect, database_failure, database_url, settings
from worker.inbox import ops
from worker.mirror.replay import ReplayOutcome
from worker.mirror.replay import replay as replay_events

REPLAY_CHUNK = 500
SHOW_IDS = 10


def _iso_time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time like 2026-01-31T12:00Z"
        ) from None
    # A time without an offset is read as UTC, the way the inbox stores it.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _age(value: str) -> timedelta:
    try:
        return ops.parse_age(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option("--svix-id", "svix_ids", multiple=True, help="An event's svix-id (repeatable).")
@click.option("--status", "statuses", multiple=True, type=click.Choice(ops.STATUSES))
@click.option("--type", "types", multiple=True, help="Event type, e.g. user.updated.")
@click.option("--since", callback=_iso_time, help="Received at or after (ISO 8601).")
@click.option("--until", callback=_iso_time, help="Received before (ISO 8601).")
@click.option("--dry-run", is_flag=True, help="Show what would be replayed; change nothing.")
def replay(dry_run: bool, **filters: Any) -> None:
    """Apply inbox events again through the worker's code path (always safe)."""
    selection = ops.Selection(**filters)
    if selection.is_empty():
        raise click.UsageError("name the events: --svix-id, --status, --type or --since/--until")
    pii_key = settings().pii_key
    with connect(database_url(), autocommit=True) as conn:
        matches = ops.select_events(conn, selection)
        if matches.purged:
            click.echo(f"skipping {len(matches.purged)} event(s) whose payload was purged")
        shown = ", ".join(matches.ids[:SHOW_IDS]) + (" ..." if len(matches.ids) > SHOW_IDS else "")
        if dry_run:
            click.echo(f"would replay {len(matches.ids)} event(s): {shown}".rstrip(": "))
            return
        total = ReplayOutcome()
        for start in range(0, len(matches.ids), REPLAY_CHUNK):
            with conn.transaction():
                chunk = matches.ids[start : start + REPLAY_CHUNK]
                total.add(replay_events(conn, chunk, pii_key=pii_key))
    click.echo(f"replayed {total.summary()}")
    if not total.succeeded:
        raise ReplayFailed(
            f"{total.failed + total.retrying} event(s) failed again: read their last_error"
            " (clerk-mirror status, or the console's Events page)"
        )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Inbox counts by status, the age of the oldest pending event, the last one received."""
    try:
        with connect(database_url(or_make_runs=True), autocommit=True) as conn:
            report = ops.inbox_status(conn)
    except (psycopg.Error, click.UsageError) as exc:
        if as_json:
            # Scripts and alerts read stdout: an object even now, naming what failed.
            failure = database_failure(exc) if isinstance(exc, psycopg.Error) else exc
            click.echo(json.dumps({"error": failure.message, "exit_code": failure.exit_code}))
        raise
    age = report.oldest_pending_age
    last = report.last_received
    if as_json:
        document = {
            "counts": report.counts,
            # Statuses counted by the planner's estimate (a large inbox's closed ones).
            "estimated": list(report.estimated),
            "oldest_pending_age_s": age.total_seconds() if age is not None else None,
            "last_received": {**last, "received_at": last["received_at"].isoformat()}
            if last
            else None,
        }
        click.echo(logs.escape_json_controls(json.dumps(document)))
        return
    click.echo("inbox: " + ", ".join(_count(s, n, report) for s, n in report.counts.items()))
    if report.estimated:
        click.echo("(~: an estimate from the planner's statistics; counting would read every row)")
    click.echo(f"oldest pending: {_seconds(age)} old" if age is not None else "nothing pending")
    if last is None:
        click.echo("no event received yet")
    else:
        # The type and the svix-id are what a sender chose: escaped, no terminal acts on them.
        click.echo(
            f"last received: {last['received_at'].isoformat()}"
            f" {logs.escape_controls(last['event_type'])}"
            f" {logs.escape_controls(last['svix_id'])} ({last['status']})"
        )


def _count(status: str, count: int, report: ops.InboxStatus) -> str:
    return f"~{count} {status}" if status in report.estimated else f"{count} {status}"


def _seconds(age: timedelta) -> str:
    return f"{age.total_seconds():.1f} s"


@click.command()
@click.option("--older-than", required=True, help="Age like 30d or 12h (by processed_at).")
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
def purge(older_than: str, dry_run: bool) -> None:
    """Drop raw payloads of processed and ignored events; rows, mirror and history stay."""
    age = _age(older_than)
    with connect(database_url(), autocommit=True) as conn:

        @contextmanager
        def transaction() -> Iterator[psycopg.Connection]:
            with conn.transaction():
                yield conn

        if dry_run:
            count = ops.purgeable(conn, age)
        else:
            step = lambda c: ops.purge_batch(c, age)  # noqa: E731
            count = ops.in_batches(transaction, step, yield_to=ops.YieldToWorker())
    verb = "would purge" if dry_run else "purged"
    click.echo(f"{verb} the payload of {count} event(s) closed more than {older_than} ago")
