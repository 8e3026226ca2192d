-- A tenant's queued tasks per queue, each count stopping at :cap (reads tasks_tenant_depth_idx).
-- Run after tenant_lock, in a statement of its own: its snapshot then holds every row the
-- tenant's previous lock holders committed.
SELECT q.name AS queue, (
    SELECT count(*) FROM (
        SELECT 1 FROM {schema}.tasks
        WHERE tenant = :tenant AND queue = q.name AND state = 'queued' LIMIT :cap
    ) AS capped
) AS n
FROM unnest((:queues)::text[]) AS q(name)
