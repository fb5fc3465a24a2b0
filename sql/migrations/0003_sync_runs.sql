-- Why: webhooks only tell about changes from the moment the endpoint exists, so the
-- mirror is filled and later reconciled from Clerk's Backend API. A listing of a large
-- instance takes minutes and can be interrupted; each run is recorded here with its
-- checkpoint (next_offset, committed with each page) so that it can be resumed and
-- watched, and the users a run listed are kept so that reconciliation can tell which
-- users Clerk no longer has.

CREATE TABLE clerk.sync_runs (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text        NOT NULL DEFAULT 'backfill' CHECK (kind IN ('backfill')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    status        text        NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    pages         integer     NOT NULL DEFAULT 0,
    users_seen    integer     NOT NULL DEFAULT 0,
    users_changed integer     NOT NULL DEFAULT 0,
    next_offset   integer     NOT NULL DEFAULT 0,
    error         text,
    reconcile     boolean     NOT NULL DEFAULT false,
    tombstoned    integer     NOT NULL DEFAULT 0
);

-- The users one run listed: what reconciliation compares the mirror against.
CREATE TABLE clerk.sync_run_users (
    run_id  bigint NOT NULL REFERENCES clerk.sync_runs (id) ON DELETE CASCADE,
    user_id text   NOT NULL,
    PRIMARY KEY (run_id, user_id)
);
