"""A generated inbox for the inbox section: a year of traffic, or its last hours.

Set-up, not measured: generated in the server by SQL with the table's indexes dropped and
rebuilt as the migrations define them, then VACUUM ANALYZE (what autovacuum gives an inbox
at rest). The rows are received evenly over the last `days` (365 for the year). Nine
events in ten are applied user.updated events of 500,000 users, one in ten an ignored
session.created without a body; payloads are kept for the last PAYLOAD_DAYS only (the
rest were purged), and a hundred failed and twenty dead events are scattered over the
days, each with its payload.
"""

from __future__ import annotations

import json
import time
from typing import Final, LiteralString

from bench.report_data import INDEXES, SESSION, _ddl
from worker import db

DAYS = 365
# Twice the default retention: the section's purge then has 30 days of payloads to drop.
PAYLOAD_DAYS = 60
USERS = 500_000
FAILED, DEAD = 100, 20

# About the size of a real user.updated body with one phone number.
PAYLOAD: Final = json.dumps(
    {
        "type": "user.updated",
        "object": "event",
        "timestamp": 1764000000000,
        "data": {
            "id": "user_generated",
            "object": "user",
            "updated_at": 1764000000000,
            "first_name": "Generated",
            "primary_phone_number_id": "idn_generated",
            "two_factor_enabled": False,
            "phone_numbers": [
                {
                    "id": "idn_generated",
                    "object": "phone_number",
                    "phone_number": "+15555550100",
                    "reserved_for_second_factor": False,
                    "default_second_factor": False,
                    "verification": {"status": "verified", "strategy": "phone_code"},
                    "linked_to": [],
                }
            ],
        },
    }
).encode()

GENERATE: Final[LiteralString] = """
INSERT INTO clerk.webhook_events (svix_id, event_type, payload, user_id, version_ms, event_ms,
    received_at, status, attempts, last_error, processed_at)
SELECT 'msg_gen_' || lpad(g::text, 9, '0'),
       CASE WHEN ignored THEN 'session.created' ELSE 'user.updated' END,
       CASE WHEN status IN ('failed', 'dead')
              OR (NOT ignored AND t > now() - %(payload_days)s * interval '1 day')
            THEN %(payload)s::bytea END,
       CASE WHEN NOT ignored THEN 'user_gen_' || mod(g, %(users)s) END,
       ms, ms, t, status,
       CASE status WHEN 'dead' THEN 5 WHEN 'failed' THEN 1 ELSE 1 END,
       CASE WHEN status IN ('failed', 'dead') THEN 'RuntimeError: generated' END,
       t + interval '20 milliseconds'
FROM generate_series(1, %(n)s) AS g,
     LATERAL (SELECT now() - %(days)s * interval '1 day' * (1 - g::float8 / %(n)s) AS t,
                     mod(g, 10) = 0 AS ignored) AS a,
     LATERAL (SELECT (extract(epoch FROM t) * 1000)::bigint AS ms,
                     CASE WHEN mod(g, greatest(%(n)s / %(failed)s, 1)) = 7 THEN 'failed'
                          WHEN mod(g, greatest(%(n)s / %(dead)s, 1)) = 11 THEN 'dead'
                          WHEN mod(g, 10) = 0 THEN 'ignored'
                          ELSE 'processed' END AS status) AS b
"""


def generate(url: str, rows: int, days: float = DAYS) -> dict[str, float]:
    """Fill a migrated, empty inbox with `rows` events received over the last `days`;
    returns the seconds each index took to build (what its migration takes at that size)."""
    with db.connect(url, autocommit=True) as conn:
        conn.execute(SESSION)
        indexes = conn.execute(INDEXES, {"tables": ["clerk.webhook_events"]}).fetchall()
        for table, index, _, constraint, _ in indexes:
            conn.execute(_ddl("ALTER TABLE {} DROP CONSTRAINT {}", table, constraint)
                         if constraint else _ddl("DROP INDEX {}", index))  # fmt: skip
        conn.execute(
            GENERATE,
            {"n": rows, "days": float(days), "payload_days": PAYLOAD_DAYS, "payload": PAYLOAD,
             "users": USERS, "failed": FAILED, "dead": DEAD},
        )  # fmt: skip
        built = {}
        for table, index, definition, constraint, con_def in indexes:
            add = "ALTER TABLE {} ADD CONSTRAINT {} {}"
            started = time.perf_counter()
            conn.execute(
                _ddl(add, table, constraint, con_def) if constraint else _ddl("{}", definition)
            )
            built[index] = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE clerk.webhook_events")
    return built
