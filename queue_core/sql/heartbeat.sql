-- Extends every lease (:ids and :tokens, pairwise) whose token still matches, in one statement
-- per worker per beat. A lease missing from the answer is lost (an older attempt of a task the
-- same worker claimed again is told so: only the pair of id and token counts); cancel_requested
-- tells the handler to stop.
UPDATE {schema}.tasks AS t SET run_at = now() + make_interval(secs => :lease_seconds)
FROM unnest((:ids)::uuid[], (:tokens)::uuid[]) AS v(id, token)
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id, t.lease_token, t.cancel_requested
