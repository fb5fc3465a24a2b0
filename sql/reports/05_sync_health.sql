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

CREATE OR REPLACE VIEW clerk.report_sync_health AS
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'dead') AS dead,
       round(extract(epoch FROM now() - min(received_at) FILTER (WHERE status = 'pending')), 3)
           AS oldest_pending_seconds,
       max(received_at) AS last_received_at,
       count(*) FILTER (WHERE received_at > now() - interval '1 hour') AS received_last_hour
FROM clerk.webhook_events;

GRANT SELECT ON clerk.report_sync_health TO clerk_reporting;
COMMENT ON VIEW clerk.report_sync_health IS
    'Is the sync keeping up (pending, failed, dead events, oldest pending, last received)?';
