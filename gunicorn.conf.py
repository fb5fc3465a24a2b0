"""gunicorn settings read from the working directory: its own logs as JSON lines too.

create_app() sets up logging in each worker process; this covers the master's lines
(booting, worker exits) that are written before any app exists.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger
from gunicorn.instrument.statsd import Statsd

from worker.logs import gunicorn_logconfig


class JsonLogger(Statsd):  # type: ignore[misc]
    """gunicorn's logger, with the access log only when --access-logfile asks for it.

    gunicorn turns its access log on whenever a logconfig_dict is set, and then formats
    a line for every request: a measurable share of a webhook's CPU, for lines that the
    inbox (received_at, svix-id) already records. Built on gunicorn's statsd logger, so
    that --statsd-host still sends its request metrics (a custom logger_class turns off
    gunicorn's own switch to that logger); without a statsd host it sends nothing.
    """

    def __init__(self, cfg: Any) -> None:
        if cfg.statsd_host:
            super().__init__(cfg)
            return
        # Statsd would open a socket to nowhere: be the plain logger, with no socket.
        Logger.__init__(self, cfg)
        self.prefix, self.sock, self.dogstatsd_tags = "", None, cfg.dogstatsd_tags

    @property
    def access_log_enabled(self) -> bool:
        return bool(self.cfg.accesslog)

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if self.sock is not None or self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


def worker_exit(server: Any, worker: Any) -> None:
    """A web process stopping: log and wake for its last requests, close its pool."""
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", {})
    if "clerk_mirror" in extensions:
        extensions["clerk_mirror"].close()


def _preflight() -> str | None:
    """The master's own read of the web's settings, before it forks any web process (each
    reads them again in create_app): a bad one, or a metrics directory others could plant
    in, stops it here in one line instead of a traceback per worker. The log format."""
    # Imported here: gunicorn takes every global of this file named like a setting
    # (`config` is one).
    from worker import config

    try:
        settings = config.from_env(os.environ, (config.WEB,))
        config.metrics_dir(settings)
    except config.ConfigError as exc:
        raise SystemExit(f"clerk-mirror: {exc}") from None
    return settings.log_format


logconfig_dict = gunicorn_logconfig(_preflight())
logger_class = JsonLogger
