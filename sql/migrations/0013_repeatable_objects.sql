-- Why: each view and function is now defined once, in its own file of sql/views or
-- sql/reports, instead of again in every migration that changed it. After the migrations,
-- `clerk-mirror migrate` runs each of those files whose text changed since it last ran
-- there, and records the file's checksum here. A database built by 0001 to 0012 has none
-- recorded, so the next migrate runs them all once: each is CREATE OR REPLACE of the same
-- definition, so nothing but the comments changes.

CREATE TABLE clerk.schema_repeatables (
    path       text        PRIMARY KEY,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
