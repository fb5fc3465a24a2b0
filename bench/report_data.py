"""A generated mirror for the reports section: users, phones, both histories, an inbox.

Set-up, not measured: generated in the server by SQL, then VACUUM ANALYZE (what autovacuum
gives a mirror at rest). Per user: two phone numbers with five history rows each, two or
three user-history rows; times spread over 700 days, history rows in time order (as the
worker writes them). Regions, outcomes and 2FA take fixed shares from the row number.
"""

from __future__ import annotations

from typing import Final, LiteralString

from psycopg import sql

from worker import db

SESSION: Final[LiteralString] = """
SET work_mem = '256MB'; SET maintenance_work_mem = '1GB'; SET synchronous_commit = off
"""

USER_HISTORY: Final[LiteralString] = """
INSERT INTO clerk.user_history (user_id, change, primary_phone_number_id, two_factor_enabled,
    totp_enabled, backup_code_enabled, deleted_at, svix_id, effective_at, event_at)
SELECT 'user_' || g, change, 'idn_' || (2 * g - CASE WHEN j = 2 AND g %% 3 <> 0 THEN 0 ELSE 1 END),
       j = 2 AND g %% 3 = 0, j = 2 AND g %% 6 = 0, j = 2 AND g %% 3 = 0,
       CASE WHEN change = 'deleted' THEN at END, 'gen_u' || g || '_' || j, at, at
FROM generate_series(1, %(users)s) AS g,
     LATERAL (VALUES (1, 'created', 0), (2, 'updated', g %% 300 + 1),
                     (3, CASE WHEN g %% 10 = 9 THEN 'deleted' ELSE 'updated' END,
                      g %% 300 + g %% 60 + 2)) AS s (j, change, days),
     LATERAL (SELECT timestamptz '2024-01-01 UTC' + (g::bigint * 7919 %% 60480000) * interval '1 s'
                     + days * interval '1 day' AS at) AS t
WHERE j < 3 OR g %% 10 = 9 OR g %% 9 = 0
ORDER BY at
"""

USERS: Final[LiteralString] = """
INSERT INTO clerk.users (id, primary_phone_number_id, two_factor_enabled, totp_enabled,
    backup_code_enabled, created_at, updated_at, deleted_at, version_ms, version_event_ms,
    version_svix_id)
SELECT DISTINCT ON (user_id) user_id, primary_phone_number_id, two_factor_enabled,
       totp_enabled, backup_code_enabled, effective_at, effective_at, deleted_at,
       (extract(epoch FROM effective_at) * 1000)::bigint,
       (extract(epoch FROM effective_at) * 1000)::bigint, svix_id
FROM clerk.user_history
ORDER BY user_id, effective_at DESC
"""

# Steps: 1 created unverified, 2 a second attempt, 3 verified (failed, expired: 5% each),
# 4 reserved for 2FA (every 7th verified), 5 deleted (every 10th, and every phone of a
# deleted user, as the worker deletes them with their user) or one more attempt.
PHONE_HISTORY: Final[LiteralString] = """
INSERT INTO clerk.phone_number_history (phone_number_id, user_id, change, phone_number,
    region_code, reserved_for_second_factor, default_second_factor, is_primary,
    verification_status, verification_strategy, verification_attempts, created_at,
    updated_at, deleted_at, svix_id, effective_at, event_at, valid_until)
SELECT 'idn_' || g, 'user_' || ((g + 1) / 2),
       CASE WHEN k = 1 THEN 'created'
            WHEN k = 5 AND (g %% 10 = 9 OR (g + 1) / 2 %% 10 = 9) THEN 'deleted'
            ELSE 'updated' END,
       -- every 25th phone has the number of the phone 10 before it (same prefix): a
       -- number two users hold at once, or one taken again after its holder's deletion
       r.prefix
           || lpad((CASE WHEN g %% 25 = 13 THEN g - 10 ELSE g END %% 10000000)::text, 7, '0'),
       r.region,
       k >= 4 AND status = 'verified' AND g %% 7 = 0, k >= 4 AND status = 'verified' AND g %% 7 = 0,
       -- the user's primary is its even phone after its second row unless it has a third
       -- (USER_HISTORY), as the fold marks it
       (g %% 2 = 0) = ((g + 1) / 2 %% 3 <> 0 AND (g + 1) / 2 %% 10 <> 9),
       CASE WHEN k < 3 THEN 'unverified' ELSE status END, 'phone_code', k,
       t0, at, CASE WHEN k = 5 AND (g %% 10 = 9 OR (g + 1) / 2 %% 10 = 9) THEN at END,
       'gen_p' || g || '_' || k, at, at, t0 + next_by
FROM generate_series(1, 2 * %(users)s) AS g,
     LATERAL (SELECT timestamptz '2024-01-01 UTC' + (g::bigint * 7919 %% 60480000) * interval '1 s'
                     AS t0,
                     CASE g %% 20 WHEN 0 THEN 'failed' WHEN 1 THEN 'expired'
                          ELSE 'verified' END AS status,
                     (ARRAY['+1202555', '+1202555', '+1202555', '+1202555', '+4477009',
                            '+4477009', '+3361234', '+4915123', '+9198123', '+5511987'])
                         [g %% 10 + 1] AS prefix,
                     (ARRAY['US', 'US', 'US', 'US', 'GB', 'GB', 'FR', 'DE', 'IN', 'BR'])
                         [g %% 10 + 1] AS region) AS r,
     LATERAL (SELECT (60 + g %% 600) * interval '1 s' AS o3,
                     (g %% 90) * interval '1 day' + interval '1 hour' AS o4,
                     (g %% 200 + 91) * interval '1 day' AS o5) AS o,
     -- each step's offset and the next one's, which ends it (valid_until)
     LATERAL (VALUES (1, interval '0', interval '30 s'), (2, interval '30 s', o3), (3, o3, o4),
                     (4, o4, o5), (5, o5, NULL)) AS s (k, offset_by, next_by),
     LATERAL (SELECT t0 + offset_by AS at) AS t
ORDER BY at
"""

# Number types as phonenumbers would give them: every 50th phone premium-rate, every 50th
# but one VoIP, the rest mobile; the US ones are in Clerk's test range (the prefix says so).
PHONES: Final[LiteralString] = """
INSERT INTO clerk.phone_numbers (id, user_id, phone_number, region_code,
    reserved_for_second_factor, default_second_factor, is_primary, verification_status,
    verification_strategy, verification_attempts, created_at, updated_at, deleted_at,
    number_type, is_valid_number, is_test_number)
SELECT phone_number_id, user_id, phone_number, region_code, reserved_for_second_factor,
       default_second_factor, is_primary, verification_status, verification_strategy,
       verification_attempts, created_at, updated_at, deleted_at,
       CASE substr(phone_number_id, 5)::bigint %% 50 WHEN 0 THEN 'premium_rate'
            WHEN 1 THEN 'voip' ELSE 'mobile' END,
       true, region_code = 'US' AND substr(phone_number_id, 5)::bigint %% 100 < 2
FROM clerk.phone_number_history
WHERE verification_attempts = 5
"""

# How many phones carry each number, by its definition (sql/views/06_*.sql): the phones'
# triggers that keep it are off for the load.
PHONE_NUMBER_COUNTS: Final[LiteralString] = """
INSERT INTO clerk.phone_number_counts (phone_number, phones)
SELECT phone_number, phones FROM clerk.phone_number_counts_of_phones
"""

# The SMS ledger: a code for each phone when it was added, and a second one (a sign-in,
# a day later) for every third; one phone in 40 is a sign-up send with no ids, as the
# pumping the reports look for sends. Two and a third million sends per million users.
SMS: Final[LiteralString] = """
INSERT INTO clerk.sms_messages (id, user_id, phone_number_id, slug, status,
    delivered_by_clerk, created_at, phone_number, region_code, number_prefix, number_type,
    is_valid_number, is_test_number, svix_id)
SELECT 'sms_' || h.phone_number_id || '_' || n,
       CASE WHEN g %% 40 <> 0 THEN h.user_id END,
       CASE WHEN g %% 40 <> 0 THEN h.phone_number_id END,
       'verification_code', 'sent', true, h.effective_at + (n - 1) * interval '1 day',
       h.phone_number, h.region_code, left(h.phone_number, -4), 'mobile', true, false,
       'gen_s' || h.phone_number_id || '_' || n
FROM clerk.phone_number_history AS h,
     LATERAL (SELECT substr(h.phone_number_id, 5)::bigint AS g) AS i,
     generate_series(1, CASE WHEN g %% 3 = 0 THEN 2 ELSE 1 END) AS n
WHERE h.change = 'created'
ORDER BY 7
"""

INBOX: Final[LiteralString] = """
INSERT INTO clerk.webhook_events (svix_id, event_type, received_at, status, processed_at,
    user_id, version_ms, event_ms)
SELECT 'gen_e' || g, 'user.updated', at, CASE WHEN g %% 1000 = 0 THEN 'failed' ELSE 'processed' END,
       at, 'user_' || g, (extract(epoch FROM at) * 1000)::bigint,
       (extract(epoch FROM at) * 1000)::bigint
FROM generate_series(1, %(users)s) AS g,
     LATERAL (SELECT timestamptz '2024-01-01 UTC' + g * interval '1 min' AS at) AS t
"""

# Each user's primary_phone_problem, by its definition (the view of sql/views/04_*.sql).
PRIMARY_PHONE_PROBLEM: Final[LiteralString] = """
UPDATE clerk.users AS u SET primary_phone_problem = m.primary_phone_problem
FROM clerk.users_primary_phone_problem AS m
WHERE m.id = u.id AND m.primary_phone_problem IS NOT NULL
"""
# The per-phone facts, from the generated history by their definition (sql/views/01_*.sql).
PHONE_FACTS: Final[LiteralString] = """
INSERT INTO clerk.phone_facts SELECT * FROM clerk.phone_facts_of_history
"""
# 2FA adoption's per-user changes, after the facts (which say which phones were reserved).
USER_FACTOR_CHANGES: Final[LiteralString] = """
INSERT INTO clerk.user_factor_changes SELECT * FROM clerk.user_factor_changes_of_history
"""

STEPS: Final[tuple[LiteralString, ...]] = (
    USER_HISTORY, USERS, PHONE_HISTORY, PHONES, PHONE_NUMBER_COUNTS, PRIMARY_PHONE_PROBLEM,
    PHONE_FACTS, USER_FACTOR_CHANGES, INBOX, SMS,
)  # fmt: skip
TABLES: Final = (
    "user_history", "users", "phone_number_history", "phone_numbers", "phone_number_counts",
    "phone_facts", "user_factor_changes", "webhook_events", "sms_messages",
)  # fmt: skip

# The tables whose triggers keep the SMS ledger's facts (sql/views/05_sms_message_facts.sql),
# the numbers' counts (06) and the shared numbers' rows (07): off for the load, then the
# facts filled at once by the same function, the counts by a step of the load, and the
# shared numbers' rows by their own fill once the indexes are back (it reads the phones of
# each shared number through phone_numbers_number_idx).
TRIGGERED: Final = (
    "phone_numbers", "phone_facts", "sms_messages", "users", "phone_number_history",
)  # fmt: skip
SMS_FACTS: Final[LiteralString] = "SELECT clerk.refresh_sms_message_facts(NULL)"
SHARED_NUMBERS: Final[LiteralString] = "SELECT clerk.phone_number_sharing_refill()"

# The migrations' own indexes and key constraints, exactly as defined, to be rebuilt after
# the load: ten million rows go in several times faster without them.
INDEXES: Final[LiteralString] = """
SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid),
       c.conname, pg_get_constraintdef(c.oid)
FROM pg_index AS i LEFT JOIN pg_constraint AS c ON c.conindid = i.indexrelid
WHERE i.indrelid = ANY(%(tables)s::regclass[])
"""


def generate(url: str, users: int) -> None:
    """Fill a migrated, empty mirror: `users` users, twice as many phones, 10 rows each user."""
    with db.connect(url, autocommit=True) as conn:
        conn.execute(SESSION)
        tables = [f"clerk.{t}" for t in TABLES]
        indexes = conn.execute(INDEXES, {"tables": tables}).fetchall()
        for table, index, _, constraint, _ in indexes:
            conn.execute(_ddl("ALTER TABLE {} DROP CONSTRAINT {}", table, constraint)
                         if constraint else _ddl("DROP INDEX {}", index))  # fmt: skip
        for table in TRIGGERED:
            conn.execute(_ddl("ALTER TABLE clerk.{} DISABLE TRIGGER USER", table))
        for step in STEPS:
            conn.execute(step, {"users": users})
        for table, _, definition, constraint, con_def in indexes:
            add = "ALTER TABLE {} ADD CONSTRAINT {} {}"
            conn.execute(
                _ddl(add, table, constraint, con_def) if constraint else _ddl("{}", definition)
            )
        for table in TRIGGERED:
            conn.execute(_ddl("ALTER TABLE clerk.{} ENABLE TRIGGER USER", table))
        conn.execute("ANALYZE clerk.sms_messages, clerk.phone_numbers, clerk.phone_number_counts")
        conn.execute(SMS_FACTS)
        conn.execute(SHARED_NUMBERS)
        conn.execute("VACUUM ANALYZE")


def _ddl(template: LiteralString, *parts: str) -> sql.Composed:
    # The parts are the catalog's own names and definitions, already quoted where needed.
    return sql.SQL(template).format(*(sql.SQL(p) for p in parts))
