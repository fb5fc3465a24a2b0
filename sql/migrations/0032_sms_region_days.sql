-- Why: report_sms_conversion summed clerk.sms_prefix_days into days and regions on every
-- read. At a million users that is 840,729 rows into 4,206 groups: 1.6 to 3.2 times a scan
-- of the table (53 to 126 ms at 300,000 users, nearly all of it a hash aggregate over every
-- row), never much less, since the aggregate is the work. The writers now keep those groups
-- too: clerk.sms_prefix_days_shift adds each delta to its day and region here, with the
-- ratio the report shows, before it takes its prefixes' locks (sql/views/05 says why), and
-- the report reads this table alone, in the order of its key. It no longer reads any
-- number, so it runs as its caller, and Postgres inlines it into the view.
--
-- The cost is on the writers: one more upsert for each shift, of one row per day and
-- region the shift touches. A day and region is one row for every writer of its SMS, so
-- two transactions that write SMS of the same region that day now wait for each other at
-- that row. A batch of more than 32 prefixes already waited for every other writer of SMS
-- (the shift's exclusive lock of all prefixes); a batch of fewer now waits for one of the
-- same region and day.
--
-- sql/views/05_sms_message_facts.sql, which runs after this, fills it from the ledger. It
-- also tells Postgres that the ledger's facts function gives a few rows, not the thousand it
-- guesses of a function: a write of one message joined its facts to the ledger by two full
-- scans of it, 22 ms a write at 15,000 rows and growing with the ledger, until the ledger
-- was long enough for the guess to favour its index. The drain turns sequential scans off
-- for its transactions; an erasure, a backfill and classify did not.

CREATE TABLE clerk.sms_region_days (
    day              date   NOT NULL,
    region_code      text,
    -- bigint: the sums of a region's prefixes, each an integer
    sends            bigint NOT NULL,
    numbers_sent_to  bigint NOT NULL,
    numbers_verified bigint NOT NULL,
    -- the report's ratio, rounded as it shows it, as sms_prefix_days keeps its own (0026)
    conversion       numeric GENERATED ALWAYS AS
        (round(numbers_verified::numeric / NULLIF(numbers_sent_to, 0), 4)) STORED,
    -- in the report's order
    CONSTRAINT sms_region_days_key UNIQUE NULLS NOT DISTINCT (day, region_code)
);
GRANT SELECT ON clerk.sms_region_days TO clerk_reporting;
COMMENT ON TABLE clerk.sms_region_days IS
    'Per UTC day and region: the sums of clerk.sms_prefix_days over its prefixes, which the writers keep';
