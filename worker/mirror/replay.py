"""Replay: put chosen inbox events back in line and apply them now, as the worker would."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from worker.inbox import claim as inbox
from worker.mirror.apply import apply_ids


@dataclass(slots=True)
class ReplayOutcome:
    requested: int = 0
    requeued: int = 0
    processed: int = 0
    ignored: int = 0
    failed: int = 0
    retrying: int = 0

    @property
    def skipped(self) -> int:
        """Events a worker held at that moment (it applies them itself)."""
        return self.requested - self.processed - self.ignored - self.failed - self.retrying

    @property
    def succeeded(self) -> bool:
        """False when an event failed again (failed, or left pending after an error)."""
        return not (self.failed or self.retrying)

    def summary(self) -> str:
        """One line, the same in `clerk-mirror replay` and the console."""
        return (
            f"{self.requested} event(s): {self.processed} processed, {self.ignored} ignored,"
            f" {self.failed} failed, {self.retrying} left pending after an error,"
            f" {self.skipped} held by a worker"
        )

    def add(self, other: ReplayOutcome) -> None:
        for name in ("requested", "requeued", "processed", "ignored", "failed", "retrying"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def replay(
    conn: psycopg.Connection, svix_ids: list[str], *, pii_key: bytes | None = None
) -> ReplayOutcome:
    """Put events back in line and apply them now, through the worker's own code path.

    Safe for any event: applying is idempotent and newest wins. Call it inside a
    transaction; an event that fails again is left pending with a backoff, as the
    worker would leave it.
    """
    requeued = inbox.requeue(conn, svix_ids)
    result = apply_ids(conn, svix_ids, pii_key=pii_key)
    return ReplayOutcome(
        requested=len(svix_ids),
        requeued=requeued,
        processed=len(result.processed),
        ignored=len(result.ignored),
        failed=len(result.failed),
        retrying=len(result.retrying),
    )
