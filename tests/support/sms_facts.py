"""What the writers keep of the SMS ledger (sql/views/05_sms_message_facts.sql), against
recomputations: each row's facts against their definition, and clerk.sms_prefix_days
against the reports' original query, which joined every send to the facts and grouped it
by number."""

from __future__ import annotations

from typing import Final, LiteralString

# Rows whose kept facts differ from the definition's (kept: -, recomputed: +).
STALE_SMS_FACTS: Final[LiteralString] = """
(SELECT '-', id, counts_number, number_verified FROM clerk.sms_messages
 EXCEPT ALL SELECT '-', * FROM clerk.sms_message_facts())
UNION ALL
(SELECT '+', * FROM clerk.sms_message_facts()
 EXCEPT ALL SELECT '+', id, counts_number, number_verified FROM clerk.sms_messages)
"""

# The per-day, per-prefix sums as the reports computed them before they were kept.
_GROUPED: Final[LiteralString] = """
SELECT day, region_code, number_prefix, count(*) AS sends,
       count(DISTINCT number_key) AS numbers_sent_to,
       count(DISTINCT number_key) FILTER (WHERE verified) AS numbers_verified
FROM (SELECT (s.created_at AT TIME ZONE 'UTC')::date AS day, s.region_code, s.number_prefix,
             coalesce(s.phone_number, s.phone_number_id, s.id) AS number_key,
             (f.first_verified_at IS NOT NULL OR v.phone_number IS NOT NULL) AS verified
      FROM clerk.sms_messages AS s
      LEFT JOIN clerk.phone_facts AS f ON f.phone_number_id = s.phone_number_id
      LEFT JOIN (SELECT DISTINCT p.phone_number
                 FROM clerk.phone_numbers AS p
                 JOIN clerk.phone_facts AS pf ON pf.phone_number_id = p.id
                 WHERE p.phone_number IS NOT NULL AND pf.first_verified_at IS NOT NULL) AS v
             ON v.phone_number = s.phone_number) AS sent
GROUP BY day, region_code, number_prefix
"""
KEPT_DAYS: Final[LiteralString] = """
SELECT day, region_code, number_prefix, sends, numbers_sent_to, numbers_verified
FROM clerk.sms_prefix_days
"""
# Both are constants of this module: no value of anyone's reaches the text.
STALE_SMS_DAYS: Final[LiteralString] = (
    "(SELECT '-', * FROM (" + KEPT_DAYS + ") AS k EXCEPT ALL SELECT '-', * FROM (" + _GROUPED  # noqa: S608
    + ") AS g) UNION ALL (SELECT '+', * FROM (" + _GROUPED + ") AS g EXCEPT ALL SELECT '+', *"
    " FROM (" + KEPT_DAYS + ") AS k)"
)  # fmt: skip

# sms_conversion as it was computed before the sums were kept: every send grouped by number.
ORIGINAL_CONVERSION: Final[LiteralString] = """
SELECT day, region_code, count(*) AS codes_sent, count(DISTINCT number_key),
       count(DISTINCT number_key) FILTER (WHERE verified),
       round((count(DISTINCT number_key) FILTER (WHERE verified))::numeric
             / NULLIF(count(DISTINCT number_key), 0), 4)
FROM (SELECT (s.created_at AT TIME ZONE 'UTC')::date AS day, s.region_code,
             coalesce(s.phone_number, s.phone_number_id, s.id) AS number_key,
             (f.first_verified_at IS NOT NULL OR v.phone_number IS NOT NULL) AS verified
      FROM clerk.sms_messages AS s
      LEFT JOIN clerk.phone_facts AS f ON f.phone_number_id = s.phone_number_id
      LEFT JOIN (SELECT DISTINCT p.phone_number
                 FROM clerk.phone_numbers AS p
                 JOIN clerk.phone_facts AS pf ON pf.phone_number_id = p.id
                 WHERE p.phone_number IS NOT NULL AND pf.first_verified_at IS NOT NULL) AS v
             ON v.phone_number = s.phone_number) AS sent
GROUP BY day, region_code
ORDER BY day, region_code NULLS LAST
"""
