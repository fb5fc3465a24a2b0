"""The real endpoint with its inbox write taken out or faked: what limits ingest.

Not baselines, probes (`python -m bench --only ingest-limits`): everything the
endpoint does (headers, verify, parse, notifier, metrics, response) runs as usual,
and only Runtime.store changes. The gap between them and the endpoint is the cost
of the database round trip and commit on this machine's shared cores.
"""

from __future__ import annotations

import time

from flask import Flask

from webhooks import create_app
from webhooks.runtime import Runtime, Stored
from worker.mirror.events import Envelope

# About what the inbox INSERT and its commit take on an idle machine (wall time).
FAKE_WRITE_S = 0.0006


def endpoint_without_store() -> Flask:
    def store(self: Runtime, svix_id: str, body: bytes, env: Envelope) -> Stored:
        return Stored(new=True)

    Runtime.store = store  # type: ignore[method-assign]
    return create_app()


def endpoint_with_sleep_store() -> Flask:
    def store(self: Runtime, svix_id: str, body: bytes, env: Envelope) -> Stored:
        time.sleep(FAKE_WRITE_S)
        return Stored(new=True)

    Runtime.store = store  # type: ignore[method-assign]
    return create_app()
