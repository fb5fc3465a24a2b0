-- Why: the console's operators each get an account of their own (issue 20), so that one
-- shared password is no longer the only way in and an attack on it locks no one else out.
-- A row holds the operator's name and an argon2id hash of their password, never the
-- password. `generation` goes up with every password change: a console session records the
-- generation it signed in under and ends when it no longer matches, as it does when the
-- row is removed. Analysts have no business with password hashes, which 0002's default
-- privileges would grant them: revoke.

CREATE TABLE clerk.console_operators (
    name                text        PRIMARY KEY
                                    CHECK (name ~ '^[a-z0-9][a-z0-9._@+-]{0,63}$'),
    password_hash       text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    generation          integer     NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now()
);

REVOKE ALL ON clerk.console_operators FROM clerk_reporting;
