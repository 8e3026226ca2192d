-- Records (or refreshes) a running worker's queues and task names, and forgets the rows of
-- workers not seen for :forget_seconds (they vanished without retiring).
WITH forgotten AS (
    DELETE FROM {schema}.workers WHERE seen_at < now() - make_interval(secs => :forget_seconds)
)
INSERT INTO {schema}.workers AS w (id, queues, tasks)
VALUES (:id, (:queues)::text[], (:tasks)::text[])
ON CONFLICT (id) DO UPDATE SET queues = excluded.queues, tasks = excluded.tasks, seen_at = now()
