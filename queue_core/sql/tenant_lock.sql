-- Serialises the limited enqueues of one tenant until the caller's transaction ends, and reads
-- the tenant's own limit (if an operator set one) on the way.
SELECT pg_advisory_xact_lock(hashtext(:scope), hashtext(:tenant)) AS locked,
       l.tenant IS NOT NULL AS overridden, l.queue_depth_limit
FROM (SELECT 1) AS one
LEFT JOIN {schema}.tenant_limits AS l ON l.tenant = :tenant
