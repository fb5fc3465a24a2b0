-- Why: a number's row in clerk.phone_number_sharing was folded again from every holding of
-- the number whenever a holder was deleted, and whenever a new holder joined a number one of
-- whose holders was deleted: whether the newcomer counts as reheld, and whether anyone's
-- standing moves, depends on the number's earliest two deletions, which only the fold knew.
-- A number that thousands hold (a test number an app's own test suite signs up with and
-- deletes again) cost 56 ms more for each deletion at 5,000 holders, and 40 ms more for each
-- new holder after one (docs/benchmarks.md). The row now keeps those two moments, so a
-- deletion no earlier than both, and a new holder sorting after the last, change its counts
-- without a fold (the triggers in sql/views/07_phone_number_sharing.sql, which runs after
-- this and fills them).
--
-- The times are those of the holders' users' deletions, which clerk.users holds already.

ALTER TABLE clerk.phone_number_sharing
    ADD COLUMN first_deleted_at  timestamptz,
    ADD COLUMN second_deleted_at timestamptz;
