-- Schedules: recurring runs of one workflow version. Append-only: never edit a landed migration.
CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    version_id TEXT NOT NULL,
    timing TEXT NOT NULL,
    overlap_policy TEXT NOT NULL,
    input TEXT,
    input_hash TEXT NOT NULL,
    run_options TEXT NOT NULL,
    shard TEXT,
    definition_hash TEXT NOT NULL,
    reference_id TEXT,
    status TEXT NOT NULL,
    next_run_at_ms BIGINT NOT NULL,
    last_occurrence_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX schedules_by_reference ON schedules (namespace, reference_id) WHERE reference_id IS NOT NULL;
CREATE UNIQUE INDEX schedules_unreferenced_by_definition ON schedules (namespace, definition_hash)
    WHERE reference_id IS NULL;
CREATE INDEX schedules_by_definition ON schedules (namespace, definition_hash);
CREATE INDEX schedules_due ON schedules (next_run_at_ms) WHERE status = 'active';
CREATE INDEX schedules_by_namespace ON schedules (namespace, id);

-- The runs a schedule started, in occurrence order (their reference ids end in the occurrence's epoch ms),
-- and the ones still going, which the overlap policies look at every time the schedule fires.
CREATE INDEX runs_by_schedule_occurrence ON runs (schedule_id, reference_id) WHERE schedule_id IS NOT NULL;
CREATE INDEX runs_active_by_schedule ON runs (schedule_id)
    WHERE schedule_id IS NOT NULL AND status NOT IN ('completed', 'failed', 'cancelled');
