-- Why: three reports read their whole table in one process, or worked every row of it, and
-- at a million users ran 3.0 to 4.0 times a scan of what they read (docs/benchmarks.md,
-- Reports: reads that scale):
--
-- * report_risky_phone_numbers filtered every phone for the few of a risky type (one in 25
--   in the bench's mirror, on every page of the table) and sorted them by id. It now reads
--   them, in id order and from the index alone, from a partial index of the live risky
--   phones that carries the columns the report shows. Its columns are the number's own
--   (masked, hash, region, type, test flag) or already in phone_numbers_second_factor_idx,
--   so updates that could stay on their page still do.
-- * report_time_to_verify's percentiles are ordered-set aggregates, which Postgres runs in
--   one process only. The report now reads its groups in three parts, by the month of the
--   verification modulo 3, each from its own range of the index below, which Postgres
--   hands to three processes (a Parallel Append). The statistics object lets the planner
--   see that each part is a third of the rows: without it, it guesses a two-hundredth and
--   keeps the parts in one process. The index replaces phone_facts_verified_idx: same
--   columns, the part first.
-- * report_two_factor_adoption summed fourteen columns of every row of
--   clerk.user_factor_changes. Each of those is a month's net change of a 0/1 state (-1, 0
--   or 1) or a flag, so the row's fourteen values fit in one integer, `kind`, stored with
--   the row; the report counts rows per month and kind (about 30 kinds a month) from the
--   index below, and sums the few counts per kind.

CREATE INDEX phone_numbers_risky_idx ON clerk.phone_numbers (id)
    INCLUDE (user_id, phone_number_masked, phone_number_hash, region_code, number_type,
             is_test_number, reserved_for_second_factor, verification_status)
    WHERE deleted_at IS NULL
      AND (number_type IN ('premium_rate', 'shared_cost', 'toll_free', 'pager', 'voip')
           OR is_test_number);

DROP INDEX clerk.phone_facts_verified_idx;
CREATE INDEX phone_facts_verified_part_idx ON clerk.phone_facts
    ((extract(month FROM verified_month)::integer % 3), verified_month,
     first_verified_region_code, seconds_to_verify)
    WHERE verified_month IS NOT NULL;
CREATE STATISTICS clerk.phone_facts_verified_part
    ON ((extract(month FROM verified_month)::integer % 3)) FROM clerk.phone_facts;

-- live, two_factor, totp, backup_codes and phone as base-3 digits (value + 1), then the
-- eight on/off flags as bits: 0 to 62,207. report_two_factor_adoption decodes it.
ALTER TABLE clerk.user_factor_changes ADD COLUMN kind integer NOT NULL GENERATED ALWAYS AS (
    (live + 1) + 3 * (two_factor + 1) + 9 * (totp + 1) + 27 * (backup_codes + 1)
    + 81 * (phone + 1)
    + 243 * (two_factor_on::integer + 2 * two_factor_off::integer + 4 * totp_on::integer
             + 8 * totp_off::integer + 16 * backup_codes_on::integer
             + 32 * backup_codes_off::integer + 64 * phone_on::integer
             + 128 * phone_off::integer)
) STORED;
-- The five net changes are each a difference of a 0/1 state at two moments.
ALTER TABLE clerk.user_factor_changes ADD CONSTRAINT user_factor_changes_digits CHECK (
    live BETWEEN -1 AND 1 AND two_factor BETWEEN -1 AND 1 AND totp BETWEEN -1 AND 1
    AND backup_codes BETWEEN -1 AND 1 AND phone BETWEEN -1 AND 1);
CREATE INDEX user_factor_changes_kind_idx ON clerk.user_factor_changes (month, kind);

ANALYZE clerk.phone_facts, clerk.user_factor_changes;
