-- clerk.phone_facts_of_history (view)
--
-- Question: What does each phone's whole history say about it now (first seen, first verified, outcome)?
--
-- Columns:
--   phone_number_id: the phone.
--   user_id: its user.
--   region_code: the number's region (a phone id never changes its number).
--   first_seen_at: the phone's first history row.
--   first_verified_at: its first row (not a deletion) with verification_status 'verified';
--     NULL when never verified.
--   first_verified_region_code: that row's region.
--   ever_failed, ever_expired, ever_reserved: whether any row was failed, expired or
--     reserved_for_second_factor.
--   added_day: first_seen_at's day (UTC).
--   verified_month: first_verified_at's month (UTC, its first day).
--   seconds_to_verify: from first_seen_at to first_verified_at.
--   outcome: verified, else failed, else expired, else NULL.
--
-- Empty mirror: no rows.
--
-- The one definition of the table `clerk.phone_facts`, which the history reports read
-- instead of grouping every history row by phone. The writers (the apply path and erasure)
-- refresh the facts of exactly the phones whose history a transaction changed from this
-- view, filtered on `phone_number_id` (a grouping column, so the filter reaches the
-- history's phone index); the model test compares the table against it. No phone number,
-- raw or masked: nothing here is personal beyond the ids.

CREATE OR REPLACE VIEW clerk.phone_facts_of_history AS
SELECT phone_number_id,
       min(user_id) AS user_id,
       -- a number's region comes from the number itself, which a phone id never changes
       min(region_code) AS region_code,
       min(effective_at) AS first_seen_at,
       min(effective_at) FILTER (WHERE verification_status = 'verified' AND change <> 'deleted')
           AS first_verified_at,
       (array_agg(region_code ORDER BY effective_at, event_at, svix_id COLLATE "C")
            FILTER (WHERE verification_status = 'verified' AND change <> 'deleted'))[1]
           AS first_verified_region_code,
       coalesce(bool_or(verification_status = 'failed'), false) AS ever_failed,
       coalesce(bool_or(verification_status = 'expired'), false) AS ever_expired,
       bool_or(reserved_for_second_factor) AS ever_reserved,
       -- derived here, once per write, so that the reports group and sort plain columns
       (min(effective_at) AT TIME ZONE 'UTC')::date AS added_day,
       date_trunc('month', min(effective_at) FILTER (WHERE verification_status = 'verified'
                                                     AND change <> 'deleted')
                           AT TIME ZONE 'UTC')::date AS verified_month,
       extract(epoch FROM min(effective_at) FILTER (WHERE verification_status = 'verified'
                                                    AND change <> 'deleted')
                          - min(effective_at))::float8 AS seconds_to_verify,
       CASE WHEN bool_or(verification_status = 'verified' AND change <> 'deleted') THEN 'verified'
            WHEN bool_or(verification_status = 'failed') THEN 'failed'
            WHEN bool_or(verification_status = 'expired') THEN 'expired'
       END AS outcome
FROM clerk.phone_number_history
GROUP BY phone_number_id;

GRANT SELECT ON clerk.phone_facts_of_history TO clerk_reporting;
COMMENT ON VIEW clerk.phone_facts_of_history IS
    'What does each phone''s whole history say about it now (first seen, first verified, outcome)?';
