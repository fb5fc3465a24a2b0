"""The console's events: failed and dead ones, a filtered list in keyset pages (newer /
older), a detail page, Replay."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from webhooks.clerk import MAX_ID_LENGTH
from webhooks.console import masking, queries
from webhooks.console.blueprint import bp, moment
from webhooks.runtime import runtime
from worker.inbox import ops
from worker.mirror.events import storable
from worker.mirror.replay import replay

log = logging.getLogger(__name__)
LIST_LIMIT = 200
ATTENTION_LIMIT = 50
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
LIST_COLUMNS = (
    "svix_id",
    "event_type",
    "user_id",
    "status",
    "attempts",
    "last_error",
    "received_at",
    "processed_at",
)


def filters(args: Any) -> dict[str, Any]:
    """The list's query parameters, checked, as the query's parameters."""
    statuses = [s for s in args.getlist("status") if s]
    if any(s not in ops.STATUSES for s in statuses):
        abort(400, f"status is one of {', '.join(ops.STATUSES)}")
    window = args.get("window") or ""
    if window and window not in WINDOWS:
        abort(400, f"window is one of {', '.join(WINDOWS)}")
    for name in ("type", "user_id"):
        if not storable(args.get(name) or ""):
            abort(400, f"{name} cannot hold a NUL or an unpaired surrogate")
    since = moment(args.get("since"))
    if window:
        since = datetime.now(tz=UTC) - WINDOWS[window]
    return {
        "statuses": statuses or None,
        "event_type": args.get("type") or None,
        "user_id": args.get("user_id") or None,
        "since": since,
        "until": moment(args.get("until")),
        "limit": LIST_LIMIT,
    }


@bp.get("/events")
def events() -> str:
    params = filters(request.args)
    older, newer = cursor(request.args.get("older")), cursor(request.args.get("newer"))
    with runtime().pool.connection() as conn:
        page = read_page(conn, params, older=older, newer=newer)
        first_page = older is None and newer is None and not params["statuses"]
        attention = conn.execute(
            queries.NEEDS_ATTENTION, {"limit": ATTENTION_LIMIT}, prepare=False
        ).fetchall()
    return render_template(
        "console/events.html",
        attention=[_listed(row) for row in attention] if first_page else [],
        events=[_listed(row) for row in page.rows],
        newer_link=_link(page.rows[0]) if page.rows and page.newer else None,
        older_link=_link(page.rows[-1], older=True) if page.rows and page.older else None,
        statuses=ops.STATUSES,
        windows=WINDOWS,
        args=request.args,
        limit=LIST_LIMIT,
    )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the list, newest first, and whether pages lie on either side of it."""

    rows: list[tuple[Any, ...]]
    newer: bool
    older: bool


def read_page(
    conn: psycopg.Connection,
    params: dict[str, Any],
    *,
    older: tuple[datetime, str] | None = None,
    newer: tuple[datetime, str] | None = None,
) -> Page:
    """The page after `older` (or the first page), or the one before `newer`."""
    limit = params["limit"]
    at, svix_id = newer or older or (None, None)
    query = queries.LIST_NEWER if newer else queries.LIST_OLDER
    found = conn.execute(
        query, {**params, "at": at, "id": svix_id, "limit": limit + 1}, prepare=False
    ).fetchall()
    more = len(found) > limit
    if newer:
        return Page(found[:limit][::-1], newer=more, older=True)
    return Page(found[:limit], newer=older is not None, older=more)


# A page link's token: base64 of a short JSON pair; anything longer was not made here.
MAX_CURSOR_LENGTH = 4 * (MAX_ID_LENGTH + 64)


def cursor(token: str | None) -> tuple[datetime, str] | None:
    """A page link's position (received_at, svix_id), or 400 for a token not made here."""
    if not token:
        return None
    try:
        if len(token) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        at, svix_id = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        if not isinstance(at, str) or not isinstance(svix_id, str):
            raise TypeError("not a pair of strings")
        if len(svix_id) > MAX_ID_LENGTH or not storable(svix_id):
            raise ValueError("not a svix-id")
        received = datetime.fromisoformat(at)
        if received.tzinfo is None:
            raise ValueError("no time zone")
        return received, svix_id
    except (ValueError, TypeError, UnicodeError, binascii.Error, RecursionError):
        abort(400, "not a page link of this console")


def _link(row: tuple[Any, ...], *, older: bool = False) -> str:
    position = json.dumps([row[6].isoformat(), row[0]]).encode()
    token = base64.urlsafe_b64encode(position).decode("ascii")
    args: dict[str, Any] = {k: v for k, v in request.args.lists() if k not in ("older", "newer")}
    args["older" if older else "newer"] = token
    return url_for("console.events", **args)


def _listed(row: tuple[Any, ...]) -> dict[str, Any]:
    return shown(dict(zip(LIST_COLUMNS, row, strict=True)))


def shown(event: dict[str, Any]) -> dict[str, Any]:
    """An event's strings as the page shows them: what its sender chose, masked; the raw
    svix-id kept apart, for links."""
    event["link_id"] = event["svix_id"]
    for name in ("svix_id", "event_type", "user_id"):
        event[name] = masking.token(event[name])
    event["last_error"] = masking.text(event["last_error"])
    return event


def findable(svix_id: str) -> str:
    """svix_id, or 404: the inbox holds no id with a NUL or over the endpoint's length."""
    if len(svix_id) > MAX_ID_LENGTH or not storable(svix_id):
        abort(404)
    return svix_id


@bp.get("/events/<svix_id>")
def event(svix_id: str) -> str:
    findable(svix_id)
    with runtime().pool.connection() as conn:
        row = conn.execute(queries.EVENT, {"svix_id": svix_id}).fetchone()
    if row is None:
        abort(404)
    keys = (*LIST_COLUMNS, "next_attempt_at", "source", "payload")
    found = shown(dict(zip(keys, row, strict=True)))
    found["payload"] = masking.payload(found["payload"])
    return render_template("console/event.html", event=found)


@bp.post("/events/<svix_id>/replay")
def replay_event(svix_id: str) -> BaseResponse:
    """Replay one event through worker.mirror.replay, as `clerk-mirror replay` does."""
    findable(svix_id)
    with runtime().pool.connection() as conn:
        if conn.execute(queries.EVENT_EXISTS, {"svix_id": svix_id}).fetchone() is None:
            abort(404)
        with conn.transaction():
            outcome = replay(conn, [svix_id], pii_key=runtime().settings.pii_key)
    log.info("console replay", extra={"svix_id": svix_id, "processed": outcome.processed})
    summary = f"Replay of {masking.token(svix_id)}: {outcome.summary()}"
    flash(summary, "ok" if outcome.succeeded else "error")
    return redirect(url_for("console.event", svix_id=svix_id))
