"""The two ingest baselines, served by the same gunicorn settings as the real endpoint.

hello_app: a Flask POST that reads the body and answers, the ceiling of the server.
naive_app: what a first version would do: verify the signature, parse, and upsert the
3 KB snapshot as jsonb with a commit per request, on a psycopg pool (no inbox, no worker).
"""

from __future__ import annotations

import json
import os

from flask import Flask, Response, jsonify, request
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from svix.webhooks import Webhook, WebhookVerificationError

from worker.db import conninfo

NAIVE_TABLE = """
CREATE TABLE IF NOT EXISTS public.naive_users (
    id text PRIMARY KEY, payload jsonb NOT NULL, updated_at bigint NOT NULL
)
"""
NAIVE_UPSERT = """
INSERT INTO public.naive_users AS n (id, payload, updated_at)
VALUES (%(id)s, %(payload)s, %(updated_at)s)
ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload, updated_at = EXCLUDED.updated_at
WHERE n.updated_at <= EXCLUDED.updated_at
"""


def hello_app() -> Flask:
    app = Flask("hello")

    @app.post("/webhooks/clerk")
    def receive() -> tuple[Response, int]:
        request.get_data(cache=False)
        return jsonify(ok=True), 200

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        return jsonify(status="ok"), 200

    return app


def naive_app() -> Flask:
    app = Flask("naive")
    verifier = Webhook(os.environ["CLERK_WEBHOOK_SIGNING_SECRET"])
    pool = ConnectionPool(
        conninfo(os.environ["DATABASE_URL"]),
        min_size=1,
        max_size=int(os.environ.get("BENCH_POOL_SIZE", "4")),
        kwargs={"autocommit": True},
        open=True,
    )

    @app.post("/webhooks/clerk")
    def receive() -> tuple[Response, int]:
        body = request.get_data(cache=False)
        try:
            verifier.verify(body, dict(request.headers))
        except (WebhookVerificationError, ValueError):
            return jsonify(error="bad signature"), 401
        data = json.loads(body)["data"]
        params = {"id": data["id"], "payload": Jsonb(data), "updated_at": data["updated_at"]}
        with pool.connection() as conn:
            conn.execute(NAIVE_UPSERT, params)
        return jsonify(ok=True), 200

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        return jsonify(status="ok"), 200

    return app
