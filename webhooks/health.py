"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from webhooks.runtime import runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify(status="ok"), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks = {"postgres": runtime().database_ready(), "redis": runtime().broker_ready()}
    failed = {name: error for name, error in checks.items() if error}
    if failed:
        return jsonify(status="unavailable", failed=failed), 503
    return jsonify(status="ok"), 200
