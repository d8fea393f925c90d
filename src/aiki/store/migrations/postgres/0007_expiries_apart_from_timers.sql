-- Finished runs' retention deadlines apart from the timers of runs still going. Append-only: never edit a
-- landed migration.
--
-- Both are a run's due_at_ms; a run is in exactly one of the two indexes (or none, without a deadline). The
-- deadline loop fires every due timer from runs_by_due_time first, then deletes expired runs from
-- runs_expiring at a paced rate: a burst of expired runs (retention shortened, or first turned on over an
-- old database) never delays a wake-up and never takes the whole database from the workers.
DROP INDEX runs_by_due_time;
CREATE INDEX runs_by_due_time ON runs (due_at_ms)
    WHERE due_at_ms IS NOT NULL AND status NOT IN ('completed', 'failed', 'cancelled');
CREATE INDEX runs_expiring ON runs (due_at_ms)
    WHERE due_at_ms IS NOT NULL AND status IN ('completed', 'failed', 'cancelled');
