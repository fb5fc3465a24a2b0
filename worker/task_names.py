"""The Celery task names, stable once deployed: the web wakes by name, the worker registers.

Both sides import this module, so the web never imports the Celery app or its tasks.
"""

from __future__ import annotations

DRAIN_TASK = "clerk_mirror.drain"
SWEEP_TASK = "clerk_mirror.sweep"
BACKFILL_TASK = "clerk_mirror.backfill"
PURGE_TASK = "clerk_mirror.purge"
ERASE_TASK = "clerk_mirror.erase_deleted"
