"""Settings for code under test, as an entry point would read them: config.from_env(mapping)."""

from __future__ import annotations

import pytest

from worker import config
from worker.app import app


def hand_tasks(monkeypatch: pytest.MonkeyPatch, **environ: str) -> config.Settings:
    """The settings the Celery app's tasks read, from this environment, for one test."""
    settings = config.from_env(environ, config.CELERY)
    monkeypatch.setattr(app, "settings", settings)
    return settings
