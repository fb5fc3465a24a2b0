-- Why: sms_pumping ran a 28-day window over every row of clerk.sms_prefix_days and sorted
-- its output: 13.7 times a scan of the ledger at a million users (docs/benchmarks.md, The
-- SMS reports). Each day row now keeps its prefix's sums over the 28 days before it (same
-- region and prefix), kept by clerk.sms_prefix_days_shift in the transaction of every write
-- that shifts the sums (sql/views/05_sms_message_facts.sql); the report's rounded ratios
-- are stored beside them (generated: each row's own arithmetic, done once when it is
-- written instead of at every read), and an index in the report's output order lets it
-- read them in order, with no window, no sort and no division.

ALTER TABLE clerk.sms_prefix_days
    ADD COLUMN base_sends    integer NOT NULL DEFAULT 0,
    ADD COLUMN base_numbers  integer NOT NULL DEFAULT 0,
    ADD COLUMN base_verified integer NOT NULL DEFAULT 0;

-- The rows already there, by the window the report ran (this migration's own copy of it).
UPDATE clerk.sms_prefix_days AS p
SET base_sends = w.base_sends, base_numbers = w.base_numbers, base_verified = w.base_verified
FROM (SELECT d.ctid AS row_id,
             coalesce(sum(d.sends) OVER w, 0) AS base_sends,
             coalesce(sum(d.numbers_sent_to) OVER w, 0) AS base_numbers,
             coalesce(sum(d.numbers_verified) OVER w, 0) AS base_verified
      FROM clerk.sms_prefix_days AS d
      WINDOW w AS (PARTITION BY d.region_code, d.number_prefix ORDER BY d.day
                   RANGE BETWEEN interval '28 days' PRECEDING AND interval '1 day' PRECEDING)
     ) AS w
WHERE p.ctid = w.row_id AND w.base_sends > 0;

-- sms_pumping's ratios, rounded as it shows them (its file says what each means).
ALTER TABLE clerk.sms_prefix_days
    ADD COLUMN conversion numeric GENERATED ALWAYS AS
        (round(numbers_verified::numeric / NULLIF(numbers_sent_to, 0), 4)) STORED,
    ADD COLUMN baseline_daily_sends numeric GENERATED ALWAYS AS
        (round(base_sends / 28.0, 4)) STORED,
    ADD COLUMN baseline_conversion numeric GENERATED ALWAYS AS
        (round(base_verified::numeric / NULLIF(base_numbers, 0), 4)) STORED,
    ADD COLUMN jump numeric GENERATED ALWAYS AS
        (round(sends / greatest(base_sends / 28.0, 1), 2)) STORED;

-- In sms_pumping's output order, under the columns' (the database's) collation.
CREATE INDEX sms_prefix_days_report_idx
    ON clerk.sms_prefix_days (day, region_code NULLS LAST, number_prefix NULLS LAST);
