-- Why: the inbox keeps every event (about 30,000 a day for a mid-size app, ten million a
-- year), and the operator's reads sorted or scanned all of it: the last event received,
-- the last hour's counts, the 24 h per-minute chart and the console's newest-first list
-- (4 s a page at ten million rows). Each of these indexes serves one range of those reads,
-- so that a read costs what it shows, not what the inbox holds.
--
-- Received times, newest first, with the svix-id as the tie-break: the last event
-- received, the last hour and the chart's received counts, and the console's keyset pages.
CREATE INDEX webhook_events_received_idx ON clerk.webhook_events (received_at, svix_id);

-- Closed events by when they closed: the chart's and the last hour's applied counts (the
-- status included, so that they are read from the index alone) and the removal of old
-- rows (CLERK_MIRROR_INBOX_KEEP_DAYS).
CREATE INDEX webhook_events_closed_idx ON clerk.webhook_events (processed_at) INCLUDE (status)
    WHERE status IN ('processed', 'ignored');

-- Closed events that still hold their payload: what the payload purge works through, in
-- batches, oldest first. A purged row leaves this index, so the purge never reads the
-- months of rows it already emptied.
CREATE INDEX webhook_events_purgeable_idx ON clerk.webhook_events (processed_at)
    WHERE payload IS NOT NULL AND status IN ('processed', 'ignored');
