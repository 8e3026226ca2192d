-- Counts a queue's queued tasks, but stops at :cap rows so the check costs the same on a queue
-- ten times over its limit; it reads the claim index (queued and running rows only).
SELECT count(*) AS n FROM (
    SELECT 1 FROM {schema}.tasks WHERE queue = :queue AND state = 'queued' LIMIT :cap
) AS capped
