-- Every tenant's overrides.
SELECT tenant, queue_depth_limit, updated_at FROM {schema}.tenant_limits ORDER BY tenant
