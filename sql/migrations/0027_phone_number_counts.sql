-- Why: report_shared_phone_numbers found the numbers that more than one phone carries by
-- deduplicating every phone's number (a hash aggregate of two million numbers, or a whole
-- pass over phone_numbers_number_idx): 16.7 times a scan of the tables it reads at a million
-- users (docs/benchmarks.md, Reports). Now clerk.phone_number_counts keeps how many phone
-- rows carry each number, in the same transaction as every write to clerk.phone_numbers,
-- and the report reads the few numbers counted more than once from a partial index. The
-- triggers that keep it, and its fill for the phones already mirrored, are in
-- sql/views/06_phone_number_counts.sql (which runs after this, and fills it while it holds
-- off every writer of the phones).
--
-- It holds raw numbers, so it is the owner's alone, as the phones' own column is: neither
-- clerk_reporting nor clerk_pii_reader reads it. A number leaves it with its last phone row,
-- so erasure, which takes the number off the erased person's rows, leaves it only where
-- another person's phone still carries it.

CREATE TABLE clerk.phone_number_counts (
    phone_number text PRIMARY KEY,
    -- the rows of clerk.phone_numbers with this number, deleted or not; a row at 0 is
    -- removed by the statement that brings it there. No CHECK (phones >= 0): a decrement
    -- comes as a proposed row of -1 that conflicts, and Postgres checks the proposed row.
    phones integer NOT NULL
);
REVOKE ALL ON clerk.phone_number_counts FROM clerk_reporting;

-- The numbers more than one phone carries, in their order: all the report reads of it.
CREATE INDEX phone_number_counts_shared_idx
    ON clerk.phone_number_counts (phone_number) WHERE phones > 1;
