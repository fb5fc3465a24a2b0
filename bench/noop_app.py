"""The drain baseline: a no-op task on a Celery app configured exactly like the worker's."""

from __future__ import annotations

import os

from celery import Celery

from worker import config
from worker.app import celery_settings

NOOP_TASK = "bench.noop"

app = Celery("bench_noop")
app.conf.update(celery_settings(config.from_env(os.environ, config.CELERY)))


@app.task(name=NOOP_TASK, acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def noop() -> None:
    return None
