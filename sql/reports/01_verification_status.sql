-- clerk.report_verification_status (view)
--
-- Question: How many live phone numbers are in each verification status and strategy?
--
-- Columns:
--   verification_status: NULL when Clerk sent no verification object (its own row).
--   verification_strategy: phone_code, admin, ...
--   phone_numbers: how many live numbers.
--   share: of all live numbers.
--
-- Empty mirror: no rows.
--
-- A live phone is one with `deleted_at IS NULL`: the fold deletes every phone of a user it
-- deletes in the same write (so does erasure), so a live phone never belongs to a deleted
-- user, and the report needs no look at `clerk.users` (the model test checks the rule).

CREATE OR REPLACE VIEW clerk.report_verification_status AS
SELECT p.verification_status,
       p.verification_strategy,
       count(*) AS phone_numbers,
       round(count(*) / NULLIF(sum(count(*)) OVER (), 0), 4) AS share
FROM clerk.phone_numbers AS p
WHERE p.deleted_at IS NULL
GROUP BY p.verification_status, p.verification_strategy
ORDER BY phone_numbers DESC, p.verification_status NULLS LAST, p.verification_strategy NULLS LAST;

GRANT SELECT ON clerk.report_verification_status TO clerk_reporting;
COMMENT ON VIEW clerk.report_verification_status IS
    'How many live phone numbers are in each verification status and strategy?';
