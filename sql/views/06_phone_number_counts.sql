-- clerk.phone_number_counts_of_phones (view), by which the triggers of the phones keep
-- clerk.phone_number_counts
--
-- Question: How many phone rows carry each number?
--
-- Columns:
--   phone_number: the number (raw: the owner's alone).
--   phones: the rows of clerk.phone_numbers that carry it, deleted or not.
--
-- Empty mirror: no rows.
--
-- The one definition of the table `clerk.phone_number_counts` (migration 0027), whose
-- partial index on the numbers counted more than once is where `report_shared_phone_numbers`
-- finds the numbers worth reading, instead of deduplicating every phone's number. Triggers
-- on `clerk.phone_numbers` keep it in the same transaction as every statement that writes
-- the phones (the apply path, a backfill's page, erasure, purge, rehash, classify): each
-- adds one for every new row's number and takes one off for every old row's, and a number
-- left at none goes. The counts move by `INSERT ... ON CONFLICT DO UPDATE`, which waits for
-- a concurrent writer of the same number and then adds to what it wrote, so two workers
-- that add the same number at once both count; each statement takes its numbers in one
-- order, so two statements never wait on each other in a cycle. A number erased from a
-- person's rows leaves the table with its last row. The model test compares the table with
-- this view.

CREATE OR REPLACE VIEW clerk.phone_number_counts_of_phones AS
SELECT phone_number, count(*)::integer AS phones
FROM clerk.phone_numbers
WHERE phone_number IS NOT NULL
GROUP BY phone_number;
-- Raw numbers: not for the reporting role, which new objects of the schema grant to.
REVOKE ALL ON clerk.phone_number_counts_of_phones FROM clerk_reporting;

-- Adds each number's deltas (a number may come more than once) and removes the numbers
-- left with no phone. In the order of the numbers, so that two statements lock the rows
-- they share in the same order.
CREATE OR REPLACE FUNCTION clerk.phone_number_counts_shift(numbers text[], deltas integer[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    emptied text[];
BEGIN
    WITH shifted AS (
        INSERT INTO clerk.phone_number_counts AS c (phone_number, phones)
        SELECT d.phone_number, sum(d.delta)
        FROM unnest(numbers, deltas) AS d(phone_number, delta)
        WHERE d.phone_number IS NOT NULL
        GROUP BY d.phone_number
        HAVING sum(d.delta) <> 0
        ORDER BY d.phone_number COLLATE "C"
        ON CONFLICT (phone_number) DO UPDATE SET phones = c.phones + EXCLUDED.phones
        RETURNING c.phone_number, c.phones
    )
    SELECT array_agg(s.phone_number) FILTER (WHERE s.phones <= 0) INTO emptied FROM shifted AS s;
    IF emptied IS NOT NULL THEN
        -- rows this statement wrote and still locks: no one else changed them since
        DELETE FROM clerk.phone_number_counts WHERE phone_number = ANY(emptied) AND phones <= 0;
    END IF;
END
$$;

-- A statement wrote phones: one more for each new row's number, one less for each old
-- row's (an update that keeps the number adds nothing).
CREATE OR REPLACE FUNCTION clerk.phone_numbers_counted()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM clerk.phone_number_counts_shift(array_agg(n.phone_number), array_agg(1))
        FROM new_rows AS n;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM clerk.phone_number_counts_shift(array_agg(o.phone_number), array_agg(-1))
        FROM old_rows AS o;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM clerk.phone_number_counts_shift(array_agg(r.phone_number), array_agg(r.delta))
        FROM (SELECT o.phone_number, -1 AS delta FROM old_rows AS o
              UNION ALL
              SELECT n.phone_number, 1 FROM new_rows AS n) AS r;
    ELSE
        DELETE FROM clerk.phone_number_counts;
    END IF;
    RETURN NULL;
END
$$;

-- The counts of the phones already mirrored, by the definition above. The lock holds off
-- every writer of the phones until the triggers below are in place and this transaction
-- ends, so no write falls between the count and the triggers.
LOCK TABLE clerk.phone_numbers IN SHARE ROW EXCLUSIVE MODE;
DELETE FROM clerk.phone_number_counts;
INSERT INTO clerk.phone_number_counts (phone_number, phones)
SELECT phone_number, phones FROM clerk.phone_number_counts_of_phones;

CREATE OR REPLACE TRIGGER phone_numbers_inserted_counted AFTER INSERT ON clerk.phone_numbers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_counted();
CREATE OR REPLACE TRIGGER phone_numbers_updated_counted AFTER UPDATE ON clerk.phone_numbers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_counted();
CREATE OR REPLACE TRIGGER phone_numbers_deleted_counted AFTER DELETE ON clerk.phone_numbers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_counted();
CREATE OR REPLACE TRIGGER phone_numbers_truncated_counted AFTER TRUNCATE ON clerk.phone_numbers
    FOR EACH STATEMENT EXECUTE FUNCTION clerk.phone_numbers_counted();

GRANT SELECT ON clerk.phone_number_counts_of_phones TO clerk_pii_reader;
COMMENT ON VIEW clerk.phone_number_counts_of_phones IS
    'How many phone rows carry each number?';
