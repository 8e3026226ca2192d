-- Every tenant's tasks per queue and state: the operator's all-tenants page.
SELECT tenant, queue, state, count(*) AS n,
       extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'queued' AND run_at <= now()))
           AS oldest_due_age
FROM {schema}.tasks
GROUP BY tenant, queue, state
ORDER BY tenant, queue, state
