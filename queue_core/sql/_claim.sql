-- The claim, as common table expressions ending in `updated` (the rows it leased or ended).
-- Leases up to :n claimable tasks of :queues to :worker_id. Claimable: running with an expired
-- lease (taken first, whatever the backlog: a dead worker's tasks are rescued within the lease
-- time, not after the queue drains), then queued and due, by priority, run_at, id. SKIP LOCKED
-- lets concurrent claimers pass each other; attempts are counted here, at claim, so a task that
-- kills its worker still uses them up.
-- Each queue is read by ordered scans of two small partial indexes (a LATERAL per queue name),
-- so no claim ever sorts the backlog; rows a claim locks but does not take stay locked only
-- until this short transaction commits.
-- What a claim does to each picked row is decided on the row's latest version (FOR UPDATE
-- returns it): a task picked because its lease expired is finished instead of handed out again
-- when its cancel was requested (cancelled) or its attempts are spent (dead: the worker running
-- it died each time).
-- Slot: {exclude_expired} is empty, or a condition that keeps rows out of the expired-lease
-- scan (a worker's round keeps out the tasks it is recording: a row may change only once per
-- statement).
candidates AS (
    SELECT c.* FROM unnest((:queues)::text[]) AS q(name)
    CROSS JOIN LATERAL (
        SELECT id, 0 AS rank, 0 AS priority, run_at AS due_at,
               CASE WHEN cancel_requested THEN 'cancelled'
                    WHEN attempts >= max_attempts THEN 'dead'
                    ELSE 'running' END AS next_state
        FROM {schema}.tasks
        WHERE queue = q.name AND state = 'running' AND run_at <= now() {exclude_expired}
        ORDER BY run_at
        LIMIT :n
        FOR UPDATE SKIP LOCKED
    ) AS c
    UNION ALL
    SELECT c.* FROM unnest((:queues)::text[]) AS q(name)
    CROSS JOIN LATERAL (
        SELECT id, 1 AS rank, priority, run_at AS due_at, 'running' AS next_state
        FROM {schema}.tasks
        WHERE queue = q.name AND state = 'queued' AND run_at <= now()
        ORDER BY priority DESC, run_at, id
        LIMIT :n
        FOR UPDATE SKIP LOCKED
    ) AS c
), picked AS (
    SELECT id, rank, priority, due_at, next_state, next_state = 'running' AS go FROM candidates
    ORDER BY rank, priority DESC, due_at, id
    LIMIT :n
), updated AS (
    UPDATE {schema}.tasks AS t SET
        state = p.next_state,
        attempts = t.attempts + CASE WHEN p.go THEN 1 ELSE 0 END,
        lease_token = CASE WHEN p.go THEN gen_random_uuid() END,
        run_at = CASE WHEN p.go THEN now() + make_interval(secs => :lease_seconds)
                      ELSE t.run_at END,
        worker_id = CASE WHEN p.go THEN :worker_id END,
        started_at = CASE WHEN p.go THEN now() ELSE t.started_at END,
        finished_at = CASE WHEN p.go THEN NULL ELSE now() END,
        progress_current = CASE WHEN p.go THEN NULL ELSE t.progress_current END,
        progress_total = CASE WHEN p.go THEN NULL ELSE t.progress_total END,
        progress_message = CASE WHEN p.go THEN NULL ELSE t.progress_message END,
        error_type = CASE WHEN p.next_state = 'dead' THEN 'LeaseExpired' ELSE t.error_type END,
        error_message = CASE WHEN p.next_state = 'dead'
            THEN 'the lease expired on the last of ' || t.max_attempts
                 || ' attempts (the worker stopped, was killed or hung)'
            ELSE t.error_message END
    FROM picked AS p
    WHERE t.id = p.id
    RETURNING t.*, p.rank, p.priority AS claim_priority, p.due_at
)
