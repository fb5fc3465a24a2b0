"""gunicorn settings read from the working directory: its own logs as JSON lines too.

create_app() sets up logging in each worker process; this covers the master's lines
(booting, worker exits) that are written before any app exists.
"""

from __future__ import annotations

from worker.logs import gunicorn_logconfig

logconfig_dict = gunicorn_logconfig()
