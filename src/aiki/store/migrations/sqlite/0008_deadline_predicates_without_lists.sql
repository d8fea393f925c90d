-- The same two deadline indexes as 0007, with their status test written as comparisons instead of an IN
-- list. Append-only: never edit a landed migration.
--
-- Every change of a run's status re-tests both indexes' predicates. SQLite evaluates `status [NOT] IN
-- (...)` there at about twice the cost of the whole index entry's upkeep: every state change of every run
-- paid for it (a burst of 500 sleeps woke 1.7x later than with the one index 0007 replaced). Comparisons
-- cost what the old, status-free predicate did. The queries repeat these predicates word for word
-- (store/queries/timers.py), which is how both databases match a partial index.
DROP INDEX runs_by_due_time;
DROP INDEX runs_expiring;
CREATE INDEX runs_by_due_time ON runs (due_at_ms)
    WHERE due_at_ms IS NOT NULL AND status <> 'completed' AND status <> 'failed' AND status <> 'cancelled';
CREATE INDEX runs_expiring ON runs (due_at_ms)
    WHERE due_at_ms IS NOT NULL AND (status = 'completed' OR status = 'failed' OR status = 'cancelled');
