"""clerk-mirror classify: the number type, validity and test flag of rows that lack them."""

from __future__ import annotations

import time

import click

from worker.cli.common import connect, database_url
from worker.mirror import intel

MAX_CHUNK = 1_000_000


@click.command()
@click.option("--chunk", default=5000, show_default=True, help="Phones per transaction.")
def classify(chunk: int) -> None:
    """Fill number_type, is_valid_number and is_test_number of phone rows that lack them
    (rows mirrored before they existed); safe to run again, and while the worker runs."""
    if not 1 <= chunk <= MAX_CHUNK:
        raise click.BadParameter(f"must be from 1 to {MAX_CHUNK:,}", param_hint="--chunk")
    total, started = 0, time.monotonic()
    after: str | None = ""
    with connect(database_url(), autocommit=True) as conn:
        while after is not None:
            with conn.transaction():
                changed, after = intel.fill_chunk(conn, after, chunk)
            total += changed
    seconds = time.monotonic() - started
    click.echo(f"classified {total} row{'' if total == 1 else 's'} in {seconds:.1f} s")
