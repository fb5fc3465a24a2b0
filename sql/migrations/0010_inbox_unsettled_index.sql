-- Why: /metrics counts failed and dead events at every scrape (an alert fires on any dead
-- event) and the console lists them first. Without an index each count reads the whole
-- inbox, which keeps every event ever received; this partial index holds only the few
-- rows that need an operator.
CREATE INDEX webhook_events_unsettled_idx
    ON clerk.webhook_events (status, received_at) WHERE status IN ('failed', 'dead');
