"""SQL of the mirror's users and phones (reads, locks, derived columns and facts), as named
constants with %(name)s parameters; phone and user history keep theirs in their modules."""

from __future__ import annotations

from typing import Final, LiteralString

# Serialize work per user across workers: transaction-scoped, taken in one global order,
# that of the user ids under COLLATE "C" (Python's order of str). The isolated path locks
# one user per savepoint in sorted() order, holding the earlier ones: any other order here
# lets a batch and an isolated apply each hold a user the other waits for.
LOCK_USERS: Final[LiteralString] = """
SELECT count(pg_advisory_xact_lock(hashtextextended(u, 0)))
FROM (SELECT DISTINCT u COLLATE "C" AS u FROM unnest(%(user_ids)s::text[]) AS u
      ORDER BY 1) AS locks
"""

# LOCK_USERS for an apply, which also sets synchronous_commit off for its transaction
# (SET LOCAL, without a round trip of its own): an apply's commit need not wait for its WAL
# to reach the disk. The transaction also closes its inbox rows, so if a crash loses it, it
# is lost whole and its events are pending again, to be applied again (applying is
# idempotent). The server never keeps a later transaction and loses an earlier one (the log
# is replayed in order); the web's inserts, which the 2xx promises, and erasure still commit
# synchronously. The flush was most of a small batch's time (docs/benchmarks.md).
# And JIT off: a batch's statements run for milliseconds, but the planner prices per-id
# probes (a lateral scan each) by the loop, and a few dozen of them passed jit_above_cost:
# compiling one took 70 ms of a statement that ran in 8 (docs/benchmarks.md).
# And generic plans for its prepared statements: the planner made a custom plan for every
# run of the refreshes (their array parameters), 2 ms of Postgres's 5 for a batch of one
# event; each is written as per-id probes, the plan a generic one makes of it.
# And no sequential scan where an index serves: a batch reads the rows of its own users and
# phones. Before autoanalyze first reaches a table (a new mirror's first minute, a bulk
# load), the planner, and the generic plans it cached while the tables were empty, read
# users, phone_numbers, phone_facts and the histories whole every batch: a paced load's
# cost per event grew with the mirror, 680 µs of Postgres at 1,000 users to 2,930 at 5,000
# (docs/benchmarks.md).
LOCK_USERS_TO_APPLY: Final[LiteralString] = """
SELECT count(pg_advisory_xact_lock(hashtextextended(u, 0))),
       set_config('synchronous_commit', 'off', true),
       set_config('jit', 'off', true),
       set_config('plan_cache_mode', 'force_generic_plan', true),
       set_config('enable_seqscan', 'off', true)
FROM (SELECT DISTINCT u COLLATE "C" AS u FROM unnest(%(user_ids)s::text[]) AS u
      ORDER BY 1) AS locks
"""

# Users whose data was erased (worker.privacy): their events are forgotten, not applied.
SELECT_ERASED: Final[LiteralString] = """
SELECT user_id FROM clerk.erased_users WHERE user_id = ANY(%(user_ids)s)
"""

SELECT_USERS: Final[LiteralString] = """
SELECT id, primary_phone_number_id, two_factor_enabled, totp_enabled, backup_code_enabled,
       created_at, updated_at, deleted_at, version_ms, version_event_ms, version_svix_id
FROM clerk.users
WHERE id = ANY(%(user_ids)s)
"""

SELECT_PHONES: Final[LiteralString] = """
SELECT id, user_id, phone_number, region_code, reserved_for_second_factor,
       default_second_factor, is_primary, verification_status, verification_strategy,
       verification_attempts, verification_expire_at, linked_to, created_at, updated_at,
       deleted_at
FROM clerk.phone_numbers
WHERE user_id = ANY(%(user_ids)s)
"""


# Events of a user already applied, from a version on: what a rebuild folds again.
SELECT_APPLIED_EVENTS: Final[LiteralString] = """
SELECT svix_id, payload, event_type, version_ms, event_ms
FROM clerk.webhook_events
WHERE user_id = %(user_id)s AND version_ms >= %(since_ms)s AND status = 'processed'
  AND NOT (svix_id = ANY(%(exclude)s))
"""

# Phones a re-fold found the user never had (worker.mirror.apply._refold).
DELETE_PHONES: Final[LiteralString] = """
DELETE FROM clerk.phone_numbers WHERE id = ANY(%(phone_ids)s) AND user_id = ANY(%(user_ids)s)
"""


# The user locks do not order two workers of which one writes a user and the other, under
# another user, the phone the first names as primary: each would refresh
# users.primary_phone_problem without seeing the other's rows. So before its upserts each
# locks every phone id it involves: the phones it writes, the primary ids its users will
# have (passed in with them) and the ones they have now (read here, before the upsert);
# in one statement, in one global order (of the keys).
LOCK_PRIMARY_PHONES: Final[LiteralString] = """
SELECT count(pg_advisory_xact_lock(k))
FROM (SELECT DISTINCT hashtextextended('phone ' || p, 0) AS k
      FROM (SELECT unnest(%(phone_ids)s::text[]) AS p
            UNION ALL
            SELECT primary_phone_number_id FROM clerk.users
            WHERE id = ANY(%(user_ids)s) AND primary_phone_number_id IS NOT NULL) AS ids
      ORDER BY 1) AS locks
"""

# users.primary_phone_problem (sql/views/04_users_primary_phone_problem.sql defines it) of the
# users written and of the users whose primary phone is one of the phones written, after both
# upserts. Those users' ids are found first, each phone's holders by its own index probe, and
# the view is read for them by key: filtered by `id = ANY(..) OR primary_phone_number_id =
# ANY(..)` instead, the planner read all of users twice and phone_numbers once per batch
# (hash joins; 50 ms a batch of a paced load on a 5,000-user mirror, growing with it).
REFRESH_PRIMARY_PHONE_PROBLEM: Final[LiteralString] = """
UPDATE clerk.users AS u
SET primary_phone_problem = m.primary_phone_problem
FROM clerk.users_primary_phone_problem AS m
WHERE m.id = ANY(ARRAY(
        SELECT unnest(%(user_ids)s::text[])
        UNION
        SELECT holder.id
        FROM unnest(%(phone_ids)s::text[]) AS p(id),
             LATERAL (SELECT id FROM clerk.users WHERE primary_phone_number_id = p.id
                      OFFSET 0) AS holder))
  AND u.id = m.id AND u.primary_phone_problem IS DISTINCT FROM m.primary_phone_problem
"""

# 2FA adoption's changes of exactly these users, recomputed from both histories (the view of
# sql/views/02_user_factor_changes_of_history.sql), which reads the two histories alone.
# Read user by user, a lateral probe each, as the phone facts are:
# with `= ANY(ids)` a mirror without statistics (a deployment's first minutes) read both
# histories and the facts whole, every batch. (Per user, the view's old `EXISTS` was a
# hashed scan of the whole user history for each user: 86 ms a batch. docs/benchmarks.md.)
# Every month of a user's history is recomputed, and most come out as they were kept (an
# event moves its own month, and one out of order a later one): those are left as they
# are, not written again.
REFRESH_USER_FACTOR_CHANGES: Final[LiteralString] = """
WITH ids AS MATERIALIZED (
    SELECT DISTINCT id FROM unnest(%(user_ids)s::text[]) AS u(id)
), fresh AS MATERIALIZED (
    SELECT f.*
    FROM ids, LATERAL (SELECT * FROM clerk.user_factor_changes_of_history AS v
                       WHERE v.user_id = ids.id OFFSET 0) AS f
), gone AS (
    -- the users' rows of months no longer changed, found by the same probes, deleted by ctid
    DELETE FROM clerk.user_factor_changes AS c
    WHERE c.ctid = ANY(ARRAY(
        SELECT k.ctid
        FROM ids, LATERAL (SELECT ctid, user_id, month FROM clerk.user_factor_changes AS o
                           WHERE o.user_id = ids.id OFFSET 0) AS k
        WHERE NOT EXISTS (SELECT FROM fresh WHERE fresh.user_id = k.user_id
                                              AND fresh.month = k.month)))
)
INSERT INTO clerk.user_factor_changes
SELECT * FROM fresh
ON CONFLICT (user_id, month) DO UPDATE SET
    live = EXCLUDED.live,
    two_factor = EXCLUDED.two_factor,
    two_factor_on = EXCLUDED.two_factor_on,
    two_factor_off = EXCLUDED.two_factor_off,
    totp = EXCLUDED.totp,
    totp_on = EXCLUDED.totp_on,
    totp_off = EXCLUDED.totp_off,
    backup_codes = EXCLUDED.backup_codes,
    backup_codes_on = EXCLUDED.backup_codes_on,
    backup_codes_off = EXCLUDED.backup_codes_off,
    phone = EXCLUDED.phone,
    phone_on = EXCLUDED.phone_on,
    phone_off = EXCLUDED.phone_off
-- the whole row, so that a column added to the table is compared too
WHERE user_factor_changes IS DISTINCT FROM EXCLUDED
"""
