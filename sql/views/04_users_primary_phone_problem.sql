-- clerk.users_primary_phone_problem (view)
--
-- Question: What, if anything, is wrong with each user's primary phone number?
--
-- Columns:
--   id: the user.
--   primary_phone_number_id: the phone the user names as primary.
--   primary_phone_problem: NULL when there is none or it is one of the user's live phones;
--     else that it is not in the mirror, belongs to another user, or was deleted at when.
--
-- Empty mirror: no rows.
--
-- The one definition of `clerk.users.primary_phone_problem`, which the integrity report
-- reads (a partial index holds the few users who have one) instead of joining every user
-- to every phone. The writers recompute it, filtered on `id` or `primary_phone_number_id`,
-- in the statement after their upserts, for the users they wrote and for the users whose
-- primary phone is one of the phones they wrote; the model test compares the column
-- against it.

CREATE OR REPLACE VIEW clerk.users_primary_phone_problem AS
SELECT u.id, u.primary_phone_number_id,
       CASE WHEN u.primary_phone_number_id IS NULL THEN NULL
            WHEN p.id IS NULL THEN 'primary_phone_number_id is not in the mirror'
            WHEN p.user_id <> u.id THEN 'primary_phone_number_id belongs to another user'
            WHEN p.deleted_at IS NOT NULL
                THEN 'primary_phone_number_id was deleted at '
                     || to_char(p.deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
       END AS primary_phone_problem
FROM clerk.users AS u
LEFT JOIN clerk.phone_numbers AS p ON p.id = u.primary_phone_number_id;

GRANT SELECT ON clerk.users_primary_phone_problem TO clerk_reporting;
COMMENT ON VIEW clerk.users_primary_phone_problem IS
    'What, if anything, is wrong with each user''s primary phone number?';
