-- Durable enqueue: whatever the session's default, this transaction's commit waits for its WAL
-- to reach disk. pg_notify wakes listening workers at commit; Postgres folds identical
-- notifications of one transaction into one. :queues holds each queue of the batch once.
SELECT set_config('synchronous_commit', 'on', true) AS durable,
       count(pg_notify(:channel, q)) AS notified
FROM unnest((:queues)::text[]) AS distinct_queues(q)
