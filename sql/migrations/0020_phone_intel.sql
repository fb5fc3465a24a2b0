-- Why: the number types that should not receive one-time codes (premium-rate, shared-cost,
-- toll-free, pager, VoIP) and Clerk's test numbers are what SMS-pumping defences look at
-- first. The worker derives them offline from the number (phonenumbers, worker/mirror/
-- intel.py) and writes them with each row; rows from before this migration get them from
-- `clerk-mirror classify`, since SQL cannot run the library. NULL means not classified yet.

ALTER TABLE clerk.phone_numbers
    ADD COLUMN number_type text,
    ADD COLUMN is_valid_number boolean,
    ADD COLUMN is_test_number boolean;

ALTER TABLE clerk.phone_number_history
    ADD COLUMN number_type text,
    ADD COLUMN is_valid_number boolean,
    ADD COLUMN is_test_number boolean;

-- 0007 grants these two tables column by column.
GRANT SELECT (number_type, is_valid_number, is_test_number)
    ON clerk.phone_numbers, clerk.phone_number_history TO clerk_reporting;

-- What `clerk-mirror classify` walks: only the rows still to do.
CREATE INDEX phone_numbers_unclassified_idx ON clerk.phone_numbers (id)
    WHERE number_type IS NULL AND phone_number IS NOT NULL;
CREATE INDEX phone_number_history_unclassified_idx
    ON clerk.phone_number_history (phone_number_id)
    WHERE number_type IS NULL AND phone_number IS NOT NULL;
