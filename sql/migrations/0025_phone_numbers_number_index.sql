-- Why: report_shared_phone_numbers looks for numbers that more than one user holds. Without
-- an index on the number it sorted every phone of the mirror by number (a sort that spills
-- to disk at a million users) and then, for each shared number, read every holding again:
-- 27x a scan of the tables at 200,000 users. With it, the numbers held more than once are
-- found in one pass over this index in its order, and only their phones are read.
CREATE INDEX phone_numbers_number_idx
    ON clerk.phone_numbers (phone_number, user_id) WHERE phone_number IS NOT NULL;
