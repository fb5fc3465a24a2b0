"""The last hour of the SMS ledger by region, for the metrics' alert on SMS pumping.

Read at scrape time by the web's /metrics (as the inbox gauges are), through the
ledger's (created_at, region_code) index: the last hour only, whatever the ledger holds.
"""

from __future__ import annotations

from typing import Final, LiteralString, NamedTuple

import psycopg

# A number sent to in the last hour counts as verified when its phone (the message's
# phone_number_id) reached verified: a send before the sign-up finished, with no phone id
# yet, counts as not verified here, the same way every hour, so a region's conversion is
# compared with its own past (the reports match by number as well).
LAST_HOUR: Final[LiteralString] = """
SELECT coalesce(s.region_code, ''),
       count(DISTINCT coalesce(s.phone_number, s.phone_number_id, s.id)),
       count(DISTINCT coalesce(s.phone_number, s.phone_number_id, s.id))
           FILTER (WHERE f.first_verified_at IS NOT NULL)
FROM clerk.sms_messages AS s
LEFT JOIN clerk.phone_facts AS f ON f.phone_number_id = s.phone_number_id
WHERE s.created_at > now() - interval '1 hour'
GROUP BY 1
ORDER BY 1
"""


class RegionHour(NamedTuple):
    region: str  # '' when the numbers name no region
    numbers_sent_to: int
    numbers_verified: int


def last_hour(conn: psycopg.Connection) -> list[RegionHour]:
    return [RegionHour(r, int(n), int(v)) for r, n, v in conn.execute(LAST_HOUR)]
