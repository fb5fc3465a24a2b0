-- Why: every webhook body (about 3 KB) is compressed as it is stored, on the ingest path;
-- lz4 costs a fraction of the default pglz's CPU for about the same size. Builds of
-- Postgres without lz4 keep pglz: the payload is the same either way.
DO $$
BEGIN
    ALTER TABLE clerk.webhook_events ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available in this Postgres build; payloads stay pglz';
END
$$;
