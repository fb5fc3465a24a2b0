"""The console's reads, as named constants with %(name)s parameters (all read-only)."""

from __future__ import annotations

from typing import Final, LiteralString

# Received and applied in the last hour, exactly (the chart's buckets are whole minutes):
# two index ranges (0022's received and closed indexes), an hour of rows each.
LAST_HOUR: Final[LiteralString] = """
SELECT (SELECT count(*) FROM clerk.webhook_events
        WHERE received_at > now() - interval '1 hour'),
       (SELECT count(*) FROM clerk.webhook_events
        WHERE status = 'processed' AND processed_at > now() - interval '1 hour')
"""

# Events received and applied per minute (UTC) over the last 24 h, one row a minute. Each
# count is an index range over the day's rows: the bounds are compared with the indexed
# columns themselves, never with an expression of them.
PER_MINUTE: Final[LiteralString] = """
WITH bounds AS (
    SELECT date_trunc('minute', now() AT TIME ZONE 'UTC') AS last_minute
), minutes AS (
    SELECT generate_series(last_minute - interval '1439 minutes', last_minute,
                           interval '1 minute') AS minute
    FROM bounds
), received AS (
    SELECT date_trunc('minute', received_at AT TIME ZONE 'UTC') AS minute, count(*) AS n
    FROM clerk.webhook_events
    WHERE received_at >= (date_trunc('minute', now() AT TIME ZONE 'UTC')
                          - interval '1439 minutes') AT TIME ZONE 'UTC'
    GROUP BY 1
), applied AS (
    SELECT date_trunc('minute', processed_at AT TIME ZONE 'UTC') AS minute, count(*) AS n
    FROM clerk.webhook_events
    WHERE status = 'processed'
      AND processed_at >= (date_trunc('minute', now() AT TIME ZONE 'UTC')
                           - interval '1439 minutes') AT TIME ZONE 'UTC'
    GROUP BY 1
)
SELECT m.minute, coalesce(r.n, 0), coalesce(a.n, 0)
FROM minutes AS m
LEFT JOIN received AS r USING (minute)
LEFT JOIN applied AS a USING (minute)
ORDER BY m.minute
"""

# The events list is read in keyset pages over (received_at, svix_id), the order of
# 0022's received index: a page costs its rows, never a sort of the inbox, and an event
# that arrives meanwhile never shifts the pages after it. Run unprepared (prepare=False),
# so that each is planned with its values: a filter left NULL drops out, and a status
# filter reaches its partial index.
# What both directions select and filter by; each adds its side of the cursor and order.
_LISTED: Final[LiteralString] = """
SELECT svix_id, event_type, user_id, status, attempts, last_error, received_at, processed_at
FROM clerk.webhook_events
WHERE (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
  AND (%(event_type)s::text IS NULL OR event_type = %(event_type)s::text)
  AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s::text)
  AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR received_at < %(until)s::timestamptz)
"""

LIST_OLDER: Final[LiteralString] = (
    _LISTED
    + """  AND (%(at)s::timestamptz IS NULL
       OR (received_at, svix_id) < (%(at)s::timestamptz, %(id)s::text))
ORDER BY received_at DESC, svix_id DESC
LIMIT %(limit)s
"""
)

# The page before a cursor, read upwards (the caller shows it newest first).
LIST_NEWER: Final[LiteralString] = (
    _LISTED
    + """  AND (received_at, svix_id) > (%(at)s::timestamptz, %(id)s::text)
ORDER BY received_at, svix_id
LIMIT %(limit)s
"""
)

# Failed and dead events, the newest first (what an operator has to look at), above the
# list's first page: 0010's partial index holds only these rows.
NEEDS_ATTENTION: Final[LiteralString] = """
SELECT svix_id, event_type, user_id, status, attempts, last_error, received_at, processed_at
FROM clerk.webhook_events
WHERE status IN ('failed', 'dead')
ORDER BY received_at DESC, svix_id DESC
LIMIT %(limit)s
"""

EVENT: Final[LiteralString] = """
SELECT svix_id, event_type, user_id, status, attempts, last_error, received_at,
       processed_at, next_attempt_at, source, payload
FROM clerk.webhook_events
WHERE svix_id = %(svix_id)s
"""

EVENT_EXISTS: Final[LiteralString] = """
SELECT 1 FROM clerk.webhook_events WHERE svix_id = %(svix_id)s
"""

# Every reporting view the database holds: the console must show each of them.
REPORT_VIEWS: Final[LiteralString] = """
SELECT table_name FROM information_schema.views
WHERE table_schema = 'clerk' AND table_name LIKE 'report\\_%%'
ORDER BY table_name
"""

READ_ONLY: Final[LiteralString] = "SET TRANSACTION READ ONLY"
UTC: Final[LiteralString] = "SET LOCAL TIME ZONE 'UTC'"

# Codes sent, numbers sent to and numbers verified per day (UTC), all regions, 60 days.
SMS_PER_DAY: Final[LiteralString] = """
SELECT day, sum(codes_sent)::bigint, sum(numbers_sent_to)::bigint, sum(numbers_verified)::bigint
FROM clerk.report_sms_conversion
WHERE day > (now() AT TIME ZONE 'UTC')::date - 60
GROUP BY day
ORDER BY day
"""

# The prefixes sms_pumping flags, newest day first, the busiest first within a day.
SMS_SUSPICIOUS: Final[LiteralString] = """
SELECT day, region_code, number_prefix, sends, numbers_sent_to, numbers_verified, conversion,
       baseline_daily_sends, baseline_conversion, reason
FROM clerk.report_sms_pumping
WHERE suspicious
ORDER BY day DESC, sends DESC, number_prefix
LIMIT 100
"""
