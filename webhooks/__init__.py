"""The HTTP edge: create_app() builds the Flask app that receives Clerk webhooks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from webhooks import clerk, console, health, metrics
from webhooks.proxies import TrustedProxies
from webhooks.runtime import Runtime
from worker import config, logs
from worker import metrics as shared_metrics


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; stops with a sentence naming the variable when one is missing.

    The web's entry point: it reads its settings once (upper-case keys of test_config
    stand in for environment variables) and hands them down.
    """
    overrides = dict(test_config or {})
    environ = {k: str(v) for k, v in overrides.items() if k.isupper() and v is not None}
    settings = config.from_env({**os.environ, **environ}, (config.WEB,))
    logs.setup_logging(fmt=settings.log_format)
    if not settings.signing_secrets:
        raise config.ConfigError(
            "CLERK_WEBHOOK_SIGNING_SECRET is not set: copy the endpoint's whsec_... secret "
            "from the Clerk dashboard (Webhooks > your endpoint > Signing Secret)"
        )
    shared_metrics.start(config.metrics_dir(settings))
    app = Flask(__name__)
    app.config.from_mapping(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        POOL_SIZE=settings.web_threads,
        POOL_TIMEOUT=2.0,
    )
    app.config.from_mapping({k: v for k, v in overrides.items() if k in app.config})
    rt = Runtime.start(
        settings,
        pool_size=int(app.config["POOL_SIZE"]),
        pool_timeout=float(app.config["POOL_TIMEOUT"]),
    )
    app.extensions["clerk_mirror"] = rt
    app.wsgi_app = clerk.Endpoint(app.wsgi_app, rt, settings.max_body_bytes)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        app.wsgi_app = TrustedProxies(app.wsgi_app, settings.trusted_proxies)  # type: ignore[method-assign]
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    console.register(app, settings, rt)
    return app
