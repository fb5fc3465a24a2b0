-- Why: the console's events list filters by event type (`?type=sms.created`). Read through
-- the received index alone, a page of a rare type walks back through every other event
-- until it has found its rows, and a type the inbox does not hold walks all ten million of
-- a year's rows. With the type first, a filtered page is an index range like any other:
-- its rows, newest first, from its keyset cursor on.
CREATE INDEX webhook_events_type_idx ON clerk.webhook_events (event_type, received_at, svix_id);
