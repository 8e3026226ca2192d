-- How many live workers (seen within :live_seconds) consume each queue.
SELECT q.name AS queue, count(*) AS n
FROM {schema}.workers AS w CROSS JOIN LATERAL unnest(w.queues) AS q(name)
WHERE w.seen_at >= now() - make_interval(secs => :live_seconds)
GROUP BY q.name
