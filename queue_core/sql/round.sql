-- One round of a worker in one statement (so one round trip in autocommit): records a batch of
-- successes (complete.sql) and of failures (fail.sql), then claims up to :n tasks (_claim.sql;
-- :n may be 0). All parts see one snapshot; the tasks being recorded (:busy) are kept out of
-- the claim's scan of expired leases (a row may be changed only once per statement; a queued
-- row is never one that is being recorded, whose fenced update needs it running).
-- Always answers at least one row: the ids recorded and the new states of the failures on the
-- first (only there: they are arrays, NULL when empty), and a claimed task on each (all NULL
-- when nothing was claimed), only the columns a worker needs ({claimed}: queue_core.Claimed).
-- Kept under psycopg's 4 KiB limit for caching a statement's parsing (for the default schema):
-- hence the short form of casts, here and in the fragments.
WITH done AS ({complete}), bad AS ({fail}), {claim}
SELECT CASE WHEN coalesce(c.n, 1) = 1 THEN (SELECT array_agg(id) FROM done) END AS completed_ids,
       CASE WHEN coalesce(c.n, 1) = 1 THEN (SELECT array_agg(id) FROM bad) END AS failed_ids,
       CASE WHEN coalesce(c.n, 1) = 1 THEN (SELECT array_agg(state) FROM bad) END AS failed_states,
       {claimed}
FROM (SELECT set_config('synchronous_commit', :synchronous_commit, true)) AS m
LEFT JOIN (
    SELECT *, row_number() OVER (ORDER BY rank, claim_priority DESC, due_at, id) AS n
    FROM updated WHERE state = 'running'
) AS c ON true
ORDER BY c.n
