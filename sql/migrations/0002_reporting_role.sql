-- Why: reporting (dashboards, analysts) should read the mirror and nothing else. The
-- role clerk_reporting may SELECT users, phone numbers and their history, and every
-- table or view later migrations add to the schema, but never write, and never read
-- clerk.webhook_events: the raw payloads there hold far more personal data (names,
-- emails, IPs, metadata) than the mirror does; reporting views summarize the inbox.
-- Grant it to a login role: CREATE ROLE analyst LOGIN PASSWORD '...' IN ROLE clerk_reporting;

-- Roles are cluster-wide: another database on this server may have created it already,
-- possibly at this very moment (hence the exception handler as well as the check).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clerk_reporting') THEN
        CREATE ROLE clerk_reporting NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA clerk TO clerk_reporting;
GRANT SELECT ON clerk.users, clerk.phone_numbers, clerk.phone_number_history
    TO clerk_reporting;

-- Views and tables that later migrations create (as the same migrating user) are
-- readable too; a later migration that adds something personal must REVOKE it.
ALTER DEFAULT PRIVILEGES IN SCHEMA clerk GRANT SELECT ON TABLES TO clerk_reporting;
