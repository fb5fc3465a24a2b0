-- clerk.report_sync_health (view)
--
-- Question: Is the sync keeping up (pending, failed, dead events, oldest pending, last received)?
--
-- Columns:
--   pending, failed, dead: inbox events in each status.
--   oldest_pending_seconds: age of the oldest pending event; NULL when none.
--   last_received_at: when the newest event arrived.
--   received_last_hour: events received in the last hour.
--
-- Empty mirror: one row, zeros and NULLs.
--
-- From the inbox, `clerk.webhook_events`, which `clerk_reporting` may not read itself (its
-- payloads hold more personal data than the mirror): the view runs with its owner's
-- rights and shows only counts and times. Ages are measured from the start of the reading
-- transaction (`now()`).
--
-- Each column is its own index range (the partial indexes of the open statuses, the
-- received index of 0022), so the view costs what it shows, however large the inbox.

CREATE OR REPLACE VIEW clerk.report_sync_health AS
SELECT (SELECT count(*) FROM clerk.webhook_events WHERE status = 'pending') AS pending,
       (SELECT count(*) FROM clerk.webhook_events WHERE status = 'failed') AS failed,
       (SELECT count(*) FROM clerk.webhook_events WHERE status = 'dead') AS dead,
       round(extract(epoch FROM now() - (SELECT min(received_at) FROM clerk.webhook_events
                                         WHERE status = 'pending')), 3)
           AS oldest_pending_seconds,
       (SELECT max(received_at) FROM clerk.webhook_events) AS last_received_at,
       (SELECT count(*) FROM clerk.webhook_events
        WHERE received_at > now() - interval '1 hour') AS received_last_hour;

GRANT SELECT ON clerk.report_sync_health TO clerk_reporting;
COMMENT ON VIEW clerk.report_sync_health IS
    'Is the sync keeping up (pending, failed, dead events, oldest pending, last received)?';
