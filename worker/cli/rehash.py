"""clerk-mirror rehash: fill phone_number_hash where the worker wrote rows without the key."""

from __future__ import annotations

import click

from worker.cli.common import connect, database_url, settings
from worker.privacy import rehash as hashing


@click.command()
@click.option("--all", "every_row", is_flag=True, help="Rehash every row (after a key rotation).")
def rehash(every_row: bool) -> None:
    """Compute phone_number_hash under CLERK_MIRROR_PII_KEY for rows that lack it."""
    key = settings().pii_key
    if key is None:
        raise click.UsageError("CLERK_MIRROR_PII_KEY is not set: there is nothing to hash with")
    total = 0
    with connect(database_url(), autocommit=True) as conn:
        for target, start in hashing.START.items():
            after: str | None = start
            while after is not None:
                with conn.transaction():
                    changed, after = hashing.rehash_chunk(
                        conn, target, key, after, every_row=every_row
                    )
                total += changed
    click.echo(f"hashed {total} row{'' if total == 1 else 's'}")
