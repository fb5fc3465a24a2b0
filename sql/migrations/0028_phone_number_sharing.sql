-- Why: report_shared_phone_numbers read a scan's worth of phones and folded every holding of
-- every shared number at each call: 6.3 times a scan of the tables it reads at a million
-- users after 0027 (docs/benchmarks.md, Reports), 160,000 holdings folded into 49,161 rows.
-- Now clerk.phone_number_sharing keeps the report's rows themselves, one per number it
-- shows, refreshed in the same transaction as every write that can change one (the phones,
-- a user's deletion, the history of a phone without `created_at`), and the report reads
-- them in its order from the index below. The triggers that keep it, its one definition
-- and its fill for the mirror already there are in sql/views/07_phone_number_sharing.sql
-- (which runs after this, and fills it while it holds off every writer of those tables).
--
-- It holds raw numbers (its key) and user ids, so it is the owner's alone, as
-- clerk.phone_number_counts is: the report reads it through its owner's function. Erasure
-- takes the number off the erased person's phones, and the refresh of that number drops
-- them from its row (and the row, when fewer than two holders are left).

CREATE TABLE clerk.phone_number_sharing (
    phone_number        text PRIMARY KEY,
    phone_number_hash   text,
    phone_number_masked text,
    region_code         text,
    live_users          bigint NOT NULL,
    deleted_users       bigint NOT NULL,
    reheld_users        bigint NOT NULL,
    user_ids            text[] NOT NULL,
    -- only the numbers the report shows
    CHECK (live_users > 1 OR reheld_users > 0)
);
REVOKE ALL ON clerk.phone_number_sharing FROM clerk_reporting;

-- The report's order, its last key `user_ids` cut to its first element (which orders the
-- arrays first; an incremental sort breaks the few ties): a number many users hold has an
-- array too long for an index entry. A mask keeps two digits, so without that element
-- most of the report would be one tie to sort.
CREATE INDEX phone_number_sharing_report_idx
    ON clerk.phone_number_sharing
    (live_users DESC, reheld_users DESC, phone_number_masked, (user_ids[1]));
