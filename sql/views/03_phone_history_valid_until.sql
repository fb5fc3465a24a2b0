-- clerk.phone_history_valid_until (view)
--
-- Question: Until when did each phone history row hold?
--
-- Columns:
--   history_id: the row of clerk.phone_number_history.
--   phone_number_id: its phone.
--   valid_until: the effective_at of the phone's next row in history order (effective_at,
--     event_at, svix_id by code point); NULL for the newest, which still holds.
--   kept_valid_until: the value the row holds now, to compare.
--
-- Empty mirror: no rows.
--
-- The one definition of `clerk.phone_number_history.valid_until`, which lets
-- `phone_numbers_as_of` read the row that held at a moment without a sort. The writers use
-- it filtered on `phone_number_id` (the partition, so the filter reaches the history's
-- phone index) and on the two values differing, so that only the rows to change are joined
-- back; the model test compares them for every row. A row of a tie (the same effective_at
-- as the next) holds for no moment at all, which is the as-of rule: the last row in history
-- order at or before the moment.

CREATE OR REPLACE VIEW clerk.phone_history_valid_until AS
SELECT history_id,
       phone_number_id,
       lead(effective_at) OVER (PARTITION BY phone_number_id
                                ORDER BY effective_at, event_at, svix_id COLLATE "C")
           AS valid_until,
       valid_until AS kept_valid_until
FROM clerk.phone_number_history;

GRANT SELECT ON clerk.phone_history_valid_until TO clerk_reporting;
COMMENT ON VIEW clerk.phone_history_valid_until IS
    'Until when did each phone history row hold?';
