-- Workers seen by the server, and stalled runs. Append-only: never edit a landed migration.

-- Each worker announces itself when it starts and at every claim refresh; one not seen for the claim timeout
-- is gone. Its registered versions and shards are JSON lists.
CREATE TABLE workers (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    workflows TEXT NOT NULL,
    shards TEXT,
    concurrency BIGINT NOT NULL,
    active_runs BIGINT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    last_seen_at_ms BIGINT NOT NULL,
    PRIMARY KEY (namespace, id)
);
CREATE INDEX workers_by_last_seen ON workers (last_seen_at_ms);

-- A queued run's deadline is the time it stalls (a day after it was queued, by default; the server's
-- stall_after_ms decides when it fires).
UPDATE runs SET due_at_ms = updated_at_ms + 86400000 WHERE status = 'queued' AND due_at_ms IS NULL;
