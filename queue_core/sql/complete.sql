-- Records a batch of successful attempts: :ids and :tokens (array literals) and :results (one
-- JSON array), pairwise. Matches no row whose lease was lost.
-- Slot: {commit_mode} is empty (a worker's round sets it for the whole statement) or a join
-- that sets this transaction's synchronous_commit to :synchronous_commit (see _commit_mode.sql).
UPDATE {schema}.tasks AS t SET
    state = 'succeeded', result = v.result, finished_at = now(),
    lease_token = NULL, cancel_requested = false
FROM ROWS FROM (unnest((:ids)::uuid[]), unnest((:tokens)::uuid[]),
                jsonb_array_elements((:results)::jsonb)) AS v(id, token, result)
     {commit_mode}
WHERE t.id = v.id AND t.lease_token = v.token AND t.state = 'running'
RETURNING t.id
