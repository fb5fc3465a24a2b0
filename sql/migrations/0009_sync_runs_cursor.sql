-- Why: offset paging skips users. When users listed earlier are deleted while a listing
-- runs, every later offset shifts and a user that existed throughout is never mirrored.
-- The backfill now pages with Clerk's starting_after cursor, so a run's checkpoint is
-- the id of the last user it listed. next_offset is no longer written; it stays for the
-- runs recorded before this migration (an unfinished one restarts its listing).

ALTER TABLE clerk.sync_runs ADD COLUMN after_user_id text;

COMMENT ON COLUMN clerk.sync_runs.after_user_id IS
    'checkpoint: id of the last user listed; the listing goes on with starting_after';
COMMENT ON COLUMN clerk.sync_runs.next_offset IS
    'checkpoint of runs before cursor paging (0009); no longer written';
