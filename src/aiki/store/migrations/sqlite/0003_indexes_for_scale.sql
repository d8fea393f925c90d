-- Indexes that serve every hot statement without scanning or sorting a table, whatever its size.
-- Append-only: never edit a landed migration, add the next number instead.

-- The claim reads one queue per (namespace, workflow, version, shard), oldest run first: no sort. Runs without
-- a shard have their own index: a planner does not read ``shard IS NULL`` as an equality that keeps the order.
DROP INDEX runs_queued;
CREATE INDEX runs_queued ON runs (namespace, workflow_name, version_id, created_at_ms, id)
    WHERE status = 'queued' AND shard IS NULL;
CREATE INDEX runs_queued_by_shard ON runs (namespace, workflow_name, version_id, shard, created_at_ms, id)
    WHERE status = 'queued' AND shard IS NOT NULL;

-- Lists (newest first, by keyset) and counts: one ordered branch per status, merged, so that no page sorts
-- more than it returns; by workflow, per version and status (which also serves the statistics).
DROP INDEX runs_by_namespace;
CREATE INDEX runs_by_status ON runs (namespace, status, created_at_ms, id);
CREATE INDEX runs_by_workflow ON runs (namespace, workflow_name, version_id, status, created_at_ms, id);
CREATE INDEX runs_by_reference_id ON runs (namespace, reference_id, created_at_ms, id) WHERE reference_id IS NOT NULL;

-- The children a run created (cancel cascades, lists, retention's trees) and a schedule's runs, in order.
CREATE INDEX runs_by_parent ON runs (parent_run_id, created_at_ms, id) WHERE parent_run_id IS NOT NULL;
DROP INDEX runs_by_schedule;
CREATE INDEX runs_by_schedule ON runs (schedule_id, created_at_ms, id) WHERE schedule_id IS NOT NULL;

-- A finished run's deadline is the end of its retention (30 days by default); the server's retention option
-- decides when it fires (None keeps the run).
UPDATE runs SET due_at_ms = updated_at_ms + 2592000000
    WHERE status IN ('completed', 'failed', 'cancelled') AND due_at_ms IS NULL;
