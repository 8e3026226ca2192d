-- The claims of one worker's round whose reply was lost (its outcome unknown): running tasks
-- stamped with :worker_id, claimed within the last :within seconds, under a token the worker
-- does not hold (:held). Their leases are extended and they are handed to the worker as if the
-- reply had arrived: the claim already counted the attempt, so nothing is charged twice.
UPDATE {schema}.tasks SET run_at = now() + make_interval(secs => :lease_seconds)
WHERE worker_id = :worker_id AND state = 'running'
  AND started_at > now() - make_interval(secs => :within)
  AND lease_token <> ALL((:held)::uuid[])
RETURNING {claimed}
