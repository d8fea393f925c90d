-- aiki schema, PostgreSQL. Append-only: never edit a landed migration, add the next number instead.
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    version_id TEXT NOT NULL,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    input TEXT,
    input_hash TEXT NOT NULL,
    options TEXT NOT NULL,
    shard TEXT,
    reference_id TEXT,
    parent_run_id TEXT,
    schedule_id TEXT,
    waiting_on TEXT,
    revision BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    due_at_ms BIGINT,
    claim_token TEXT,
    worker_id TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX runs_by_reference ON runs (namespace, workflow_name, version_id, reference_id)
    WHERE reference_id IS NOT NULL;
CREATE INDEX runs_by_due_time ON runs (due_at_ms) WHERE due_at_ms IS NOT NULL;
CREATE INDEX runs_queued ON runs (namespace, workflow_name, version_id, created_at_ms) WHERE status = 'queued';
CREATE INDEX runs_by_waiting_on ON runs (waiting_on) WHERE waiting_on IS NOT NULL;
CREATE INDEX runs_by_namespace ON runs (namespace, created_at_ms);
CREATE INDEX runs_by_schedule ON runs (schedule_id) WHERE schedule_id IS NOT NULL;

CREATE TABLE tasks (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    occurrence BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    input TEXT,
    output TEXT,
    error TEXT,
    next_attempt_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX tasks_by_address ON tasks (run_id, address, occurrence) WHERE status <> 'discarded';
CREATE INDEX tasks_by_run ON tasks (run_id, id);

CREATE TABLE child_runs (
    id BIGSERIAL PRIMARY KEY,
    parent_run_id TEXT NOT NULL,
    address TEXT NOT NULL,
    occurrence BIGINT NOT NULL,
    child_run_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX child_runs_by_address ON child_runs (parent_run_id, address, occurrence);
CREATE INDEX child_runs_by_child ON child_runs (child_run_id);

CREATE TABLE child_waits (
    id BIGSERIAL PRIMARY KEY,
    parent_run_id TEXT NOT NULL,
    child_run_id TEXT NOT NULL,
    awaited_status TEXT NOT NULL,
    status TEXT NOT NULL,
    child_state TEXT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX child_waits_by_parent ON child_waits (parent_run_id, id);

CREATE TABLE sleeps (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    occurrence BIGINT NOT NULL,
    status TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    wake_at_ms BIGINT NOT NULL,
    ended_at_ms BIGINT
);
CREATE UNIQUE INDEX sleeps_by_name ON sleeps (run_id, name, occurrence);

CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT,
    reference_id TEXT,
    created_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX events_by_reference ON events (run_id, name, reference_id) WHERE reference_id IS NOT NULL;
CREATE INDEX events_by_run ON events (run_id, name, id);

CREATE TABLE transitions (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL,
    revision BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    reason TEXT,
    state TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX transitions_by_run ON transitions (run_id, id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
