-- Run deadlines, trace contexts and task attempt times. Append-only: never edit a landed migration.

-- A run's own deadline (epoch ms): past it, the run fails wherever it is. The timer loop reads it from the
-- row it finds by due_at_ms, which is never later than it, so it needs no index of its own.
ALTER TABLE runs ADD COLUMN deadline_at_ms INTEGER;
-- The W3C trace context (JSON) of the call that started the run: every execution joins that trace.
ALTER TABLE runs ADD COLUMN trace_context TEXT;
-- When each attempt of a task ran, appended by each write as 'number:started_at_ms:ended_at_ms;'.
ALTER TABLE tasks ADD COLUMN attempt_times TEXT;
-- Metrics count stalled runs at every scrape: a partial index holds only those few rows.
CREATE INDEX runs_stalled ON runs (status, workflow_name, version_id) WHERE status = 'stalled';
