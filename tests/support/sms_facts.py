"""What the writers keep of the SMS ledger (sql/views/05_sms_message_facts.sql), against
recomputations: each row's facts against their definition, and clerk.sms_prefix_days
against the reports' original query, which joined every send to the facts and grouped it
by number, with each day's baseline by the window sms_pumping ran over those sums, and
clerk.sms_region_days against the same sums by day and region."""

from __future__ import annotations

from decimal import Decimal
from typing import Final, LiteralString

# Rows whose kept facts differ from the definition's (kept: -, recomputed: +).
STALE_SMS_FACTS: Final[LiteralString] = """
(SELECT '-', id, counts_number, number_verified FROM clerk.sms_messages
 EXCEPT ALL SELECT '-', * FROM clerk.sms_message_facts())
UNION ALL
(SELECT '+', * FROM clerk.sms_message_facts()
 EXCEPT ALL SELECT '+', id, counts_number, number_verified FROM clerk.sms_messages)
"""

# The per-day, per-prefix sums as the reports computed them before they were kept, and each
# day's baseline (its prefix's sums over the 28 days before) by the window sms_pumping ran.
_GROUPED: Final[LiteralString] = """
SELECT day, region_code, number_prefix, sends, numbers_sent_to, numbers_verified,
       coalesce(sum(sends) OVER w, 0) AS base_sends,
       coalesce(sum(numbers_sent_to) OVER w, 0) AS base_numbers,
       coalesce(sum(numbers_verified) OVER w, 0) AS base_verified
FROM (SELECT day, region_code, number_prefix, count(*) AS sends,
             count(DISTINCT number_key) AS numbers_sent_to,
             count(DISTINCT number_key) FILTER (WHERE verified) AS numbers_verified
      FROM (SELECT (s.created_at AT TIME ZONE 'UTC')::date AS day, s.region_code,
                   s.number_prefix, coalesce(s.phone_number, s.phone_number_id, s.id) AS number_key,
                   (f.first_verified_at IS NOT NULL OR v.phone_number IS NOT NULL) AS verified
            FROM clerk.sms_messages AS s
            LEFT JOIN clerk.phone_facts AS f ON f.phone_number_id = s.phone_number_id
            LEFT JOIN (SELECT DISTINCT p.phone_number
                       FROM clerk.phone_numbers AS p
                       JOIN clerk.phone_facts AS pf ON pf.phone_number_id = p.id
                       WHERE p.phone_number IS NOT NULL
                         AND pf.first_verified_at IS NOT NULL) AS v
                   ON v.phone_number = s.phone_number) AS sent
      GROUP BY day, region_code, number_prefix) AS days
WINDOW w AS (PARTITION BY region_code, number_prefix ORDER BY day
             RANGE BETWEEN interval '28 days' PRECEDING AND interval '1 day' PRECEDING)
"""
# and clerk.sms_region_days, the same sums by day and region, as rows of no one prefix
_GROUPED_ALL: Final[LiteralString] = (
    _GROUPED + " UNION ALL SELECT day, region_code, 'every prefix', sum(sends)::bigint,"  # noqa: S608
    " sum(numbers_sent_to)::bigint, sum(numbers_verified)::bigint, 0, 0, 0 FROM ("
    + _GROUPED + ") AS r GROUP BY day, region_code"
)  # fmt: skip
KEPT_DAYS: Final[LiteralString] = """
SELECT day, region_code, number_prefix, sends, numbers_sent_to, numbers_verified,
       base_sends, base_numbers, base_verified
FROM clerk.sms_prefix_days
UNION ALL
SELECT day, region_code, 'every prefix', sends, numbers_sent_to, numbers_verified, 0, 0, 0
FROM clerk.sms_region_days
"""
# Both are constants of this module: no value of anyone's reaches the text.
STALE_SMS_DAYS: Final[LiteralString] = (
    "(SELECT '-', * FROM (" + KEPT_DAYS + ") AS k EXCEPT ALL SELECT '-', * FROM (" + _GROUPED_ALL  # noqa: S608
    + ") AS g) UNION ALL (SELECT '+', * FROM (" + _GROUPED_ALL + ") AS g EXCEPT ALL SELECT '+', *"
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

# sms_pumping as it was computed before the baselines were kept (default thresholds): the
# 28-day window over the sums, here over the sums recomputed from the ledger.
ORIGINAL_PUMPING: Final[LiteralString] = (
    "WITH daily AS (SELECT day, region_code, number_prefix, sends,"  # noqa: S608
    " numbers_sent_to AS numbers, numbers_verified AS verified FROM (" + _GROUPED + ") AS g"
    """), with_baseline AS (
    SELECT d.*,
           coalesce(sum(d.sends) OVER w, 0) AS base_sends,
           sum(d.numbers) OVER w AS base_numbers,
           sum(d.verified) OVER w AS base_verified
    FROM daily AS d
    WINDOW w AS (PARTITION BY d.region_code, d.number_prefix ORDER BY d.day
                 RANGE BETWEEN interval '28 days' PRECEDING AND interval '1 day' PRECEDING)
), judged AS (
    SELECT b.*,
           round(b.verified::numeric / NULLIF(b.numbers, 0), 4) AS conv,
           round(b.base_sends / 28.0, 4) AS base_daily,
           round(b.base_verified::numeric / NULLIF(b.base_numbers, 0), 4) AS base_conv,
           round(b.sends / greatest(b.base_sends / 28.0, 1), 2) AS ratio
    FROM with_baseline AS b
), flagged AS (
    SELECT j.*,
           coalesce(j.sends >= %(min_sends)s AND j.ratio >= %(min_jump)s
                    AND CASE WHEN j.base_conv IS NULL THEN j.conv <= %(max_new_conversion)s
                             ELSE j.conv <= j.base_conv - %(min_drop)s END,
                    false) AS flag
    FROM judged AS j
)
SELECT day, region_code, number_prefix, sends::bigint, numbers::bigint, verified::bigint,
       conv, base_daily, base_conv, ratio, flag,
       CASE WHEN NOT flag THEN NULL
            WHEN base_conv IS NULL
            THEN format('%%s sends from a prefix with none in the 28 days before;'
                        ' conversion %%s', sends, conv)
            ELSE format('%%s sends, %%s times the baseline of %%s a day; conversion %%s,'
                        ' down from %%s', sends, ratio, base_daily, conv, base_conv)
       END
FROM flagged
ORDER BY day, region_code NULLS LAST, number_prefix NULLS LAST
"""
)
# The report's own thresholds by default.
PUMPING_DEFAULTS: Final = {
    "min_sends": 20, "min_jump": Decimal(5), "min_drop": Decimal("0.3"),
    "max_new_conversion": Decimal("0.2"),
}  # fmt: skip
