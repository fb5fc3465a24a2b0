"""The console's reads at any inbox size: keyset pages, the chart and the hour's counts.

Each read gives what the whole-table queries it replaced gave (kept here as references),
and the events list pages over (received_at, svix_id) so that new arrivals never shift
or repeat a page.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from flask.testing import FlaskClient

from tests.webhooks.console_helpers import console_app, sign_in
from webhooks.console import events, queries

# The queries before the inbox's read indexes (migration 0022): whole-table reads, kept as
# the reference each new read must agree with on small data.
OLD_LAST_HOUR = """
SELECT count(*) FILTER (WHERE received_at > now() - interval '1 hour'),
       count(*) FILTER (WHERE status = 'processed' AND processed_at > now() - interval '1 hour')
FROM clerk.webhook_events
WHERE received_at > now() - interval '1 hour' OR processed_at > now() - interval '1 hour'
"""
OLD_PER_MINUTE = """
WITH bounds AS (
    SELECT date_trunc('minute', now() AT TIME ZONE 'UTC') AS last_minute
), minutes AS (
    SELECT generate_series(last_minute - interval '1439 minutes', last_minute,
                           interval '1 minute') AS minute
    FROM bounds
), received AS (
    SELECT date_trunc('minute', received_at AT TIME ZONE 'UTC') AS minute, count(*) AS n
    FROM clerk.webhook_events, bounds
    WHERE received_at AT TIME ZONE 'UTC' >= last_minute - interval '1439 minutes'
    GROUP BY 1
), applied AS (
    SELECT date_trunc('minute', processed_at AT TIME ZONE 'UTC') AS minute, count(*) AS n
    FROM clerk.webhook_events, bounds
    WHERE status = 'processed'
      AND processed_at AT TIME ZONE 'UTC' >= last_minute - interval '1439 minutes'
    GROUP BY 1
)
SELECT m.minute, coalesce(r.n, 0), coalesce(a.n, 0)
FROM minutes AS m
LEFT JOIN received AS r USING (minute)
LEFT JOIN applied AS a USING (minute)
ORDER BY m.minute
"""
OLD_SYNC_HEALTH = """
SELECT count(*) FILTER (WHERE status = 'pending'),
       count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE status = 'dead'),
       round(extract(epoch FROM now() - min(received_at) FILTER (WHERE status = 'pending')), 3),
       max(received_at),
       count(*) FILTER (WHERE received_at > now() - interval '1 hour')
FROM clerk.webhook_events
"""

# Events spread over two days around now, every status, some closing in the last hour,
# several sharing a received time (the svix-id breaks the tie), one received in the future.
SPREAD = """
INSERT INTO clerk.webhook_events
    (svix_id, event_type, payload, received_at, status, processed_at, attempts)
SELECT 'msg_' || lpad(i::text, 4, '0'), 'user.updated', '\\x7b7d'::bytea,
       now() - mod(i, 97) * interval '29 minutes' - mod(i, 7) * interval '13 seconds',
       (ARRAY['processed', 'processed', 'ignored', 'pending', 'failed', 'dead'])[1 + mod(i, 6)],
       CASE WHEN mod(i, 6) IN (0, 1, 2, 4, 5)
            THEN now() - mod(i, 97) * interval '29 minutes' + mod(i, 11) * interval '1 minute' END,
       0
FROM generate_series(1, %(n)s) AS i
"""


def spread(conn: psycopg.Connection, n: int) -> None:
    conn.execute(SPREAD, {"n": n})
    conn.execute(
        "UPDATE clerk.webhook_events SET received_at = now() + interval '10 s'"
        " WHERE svix_id = 'msg_0001'"
    )


def test_hour_chart_and_sync_health_read_what_the_whole_table_queries_read(
    conn: psycopg.Connection,
) -> None:
    spread(conn, 600)
    for new, old in (
        (queries.LAST_HOUR, OLD_LAST_HOUR),
        (queries.PER_MINUTE, OLD_PER_MINUTE),
        ("SELECT * FROM clerk.report_sync_health", OLD_SYNC_HEALTH),
    ):
        assert conn.execute(new).fetchall() == conn.execute(old).fetchall()
    minutes = conn.execute(queries.PER_MINUTE).fetchall()
    assert len(minutes) == 24 * 60
    assert sum(r[1] for r in minutes) > 0
    assert sum(r[2] for r in minutes) > 0


def test_the_chart_counts_each_event_in_its_utc_minute_and_none_outside_the_day(
    conn: psycopg.Connection,
) -> None:
    now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    last = now.astimezone(UTC).replace(second=0, microsecond=0)
    first = last - timedelta(minutes=1439)
    at = {
        "edge": first,  # the first minute of the chart, its first instant
        "before": first - timedelta(microseconds=1),  # just outside it
        "late": last + timedelta(seconds=59),  # the current minute's last second
        "mid": last - timedelta(hours=5, seconds=-30),
    }
    for name, when in at.items():
        conn.execute(
            "INSERT INTO clerk.webhook_events (svix_id, event_type, received_at, status,"
            " processed_at) VALUES (%s, 'user.updated', %s, 'processed', %s)",
            (name, when, when + timedelta(minutes=2)),
        )
    rows = {minute.replace(tzinfo=UTC): (r, a) for minute, r, a in conn.execute(queries.PER_MINUTE)}

    received = {m: r for m, (r, _) in rows.items() if r}
    applied = {m: a for m, (_, a) in rows.items() if a}
    assert received == {first: 1, last: 1, last - timedelta(hours=5): 1}
    # Closed two minutes later: "before" lands in the day, "late" after its end.
    assert applied == {
        first + timedelta(minutes=1): 1,
        first + timedelta(minutes=2): 1,
        last - timedelta(hours=5) + timedelta(minutes=2): 1,
    }


@pytest.fixture
def client(database_url: str, redis_url: str) -> Iterator[FlaskClient]:
    app = console_app(database_url, redis_url)
    yield app.test_client()
    app.extensions["clerk_mirror"].close()


def listed(page: str) -> list[str]:
    table = page.split('<table id="events">', 1)[1].split("</table>", 1)[0]
    return re.findall(r'data-svix-id="([^"]+)"', table)


def link(page: str, kind: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="\w+" class="{kind}">', page)
    return html.unescape(found.group(1)) if found else None


def arrive(database_url: str, svix_id: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO clerk.webhook_events (svix_id, event_type, status) VALUES (%s, %s, %s)",
            (svix_id, "session.created", "pending"),
        )


def test_keyset_pages_show_every_event_once_while_new_events_arrive(
    client: FlaskClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "LIST_LIMIT", 4)
    with psycopg.connect(database_url) as conn:
        spread(conn, 30)
    sign_in(client)

    seen: list[str] = []
    path: str | None = "/console/events"
    while path is not None:
        page = client.get(path).text
        seen += listed(page)
        arrive(database_url, f"msg_new_{len(seen)}")
        path = link(page, "older")
    assert len(seen) == 30
    assert set(seen) == {f"msg_{i:04d}" for i in range(1, 31)}

    # And back up from the oldest page: the arrivals wait at the top, once each.
    up = listed(page)
    path = link(page, "newer")
    while path is not None:
        page = client.get(path).text
        up = listed(page) + up
        path = link(page, "newer")
    arrived = [f"msg_new_{n}" for n in (*range(4, 29, 4), 30)]
    assert len(up) == len(set(up))
    assert set(up) == {*seen, *arrived}


def test_the_first_page_lists_failed_and_dead_events_above_the_newest(
    client: FlaskClient, database_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        spread(conn, 30)
    sign_in(client)
    page = client.get("/console/events").text
    attention = page.split('<table id="attention">', 1)[1].split("</table>", 1)[0]
    shown = re.findall(r'data-svix-id="([^"]+)"', attention)
    with psycopg.connect(database_url) as conn:
        expected = [
            r[0]
            for r in conn.execute(
                "SELECT svix_id FROM clerk.webhook_events WHERE status IN ('failed', 'dead')"
                " ORDER BY received_at DESC, svix_id DESC"
            )
        ]
    assert shown == expected
    assert len(shown) == 10
    assert listed(page)[0] == "msg_0001"  # the newest, received last
    filtered = client.get("/console/events?status=dead").text
    assert '<table id="attention">' not in filtered
    assert client.get("/console/events?older=not-a-link").status_code == 400
    # Tokens crafted by hand: a NUL in the id, deep nesting, other shapes, an endless one.
    for position in (
        '["2025-01-01T00:00:00+00:00", "a\\u0000b"]',
        "[" * 5000,
        '{"at": 1}',
        '["2025-01-01T00:00:00+00:00", 7]',
        '["2025-01-01T00:00:00", "msg_1"]',
        '["2025-01-01T00:00:00+00:00", "' + "x" * 5000 + '"]',
    ):
        token = base64.urlsafe_b64encode(position.encode()).decode()
        for way in ("older", "newer"):
            assert client.get(f"/console/events?{way}={token}").status_code == 400, position


def test_each_page_reads_an_index_range_not_the_table(conn: psycopg.Connection) -> None:
    spread(conn, 300)
    conn.execute("ANALYZE clerk.webhook_events")
    conn.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask what plan is possible
    base = {"statuses": None, "event_type": None, "user_id": None, "since": None,
            "until": None, "limit": 5}  # fmt: skip
    middle = (datetime.now(tz=UTC) - timedelta(hours=3), "msg_0100")
    for query, params in (
        (queries.LIST_OLDER, {**base, "at": None, "id": None}),
        (queries.LIST_OLDER, {**base, "at": middle[0], "id": middle[1]}),
        (queries.LIST_NEWER, {**base, "at": middle[0], "id": middle[1]}),
        (queries.LIST_OLDER, {**base, "statuses": ["dead"], "at": None, "id": None}),
    ):
        plan = "\n".join(
            r[0] for r in conn.execute(b"EXPLAIN " + query.encode(), params, prepare=False)
        )
        assert "Index" in plan, plan
        assert "Seq Scan" not in plan, plan
        assert not re.search(r"^\s*(-> +)?Sort ", plan, re.MULTILINE), plan
    # A type filter is part of its index range, not a filter over the received order.
    for query, at in ((queries.LIST_OLDER, None), (queries.LIST_NEWER, middle)):
        params = {**base, "event_type": "user.deleted", "at": at and at[0], "id": at and at[1]}
        plan = "\n".join(
            r[0] for r in conn.execute(b"EXPLAIN " + query.encode(), params, prepare=False)
        )
        assert re.search(r"Index Cond: .*event_type", plan), plan
