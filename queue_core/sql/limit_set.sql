-- Sets a tenant's limits (an operator's override of the process-wide default).
INSERT INTO {schema}.tenant_limits (tenant, queue_depth_limit)
VALUES (:tenant, :queue_depth_limit)
ON CONFLICT (tenant) DO UPDATE
SET queue_depth_limit = EXCLUDED.queue_depth_limit, updated_at = now()
RETURNING tenant, queue_depth_limit, updated_at
