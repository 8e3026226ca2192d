-- Removes a tenant's override (the default applies again).
DELETE FROM {schema}.tenant_limits WHERE tenant = :tenant RETURNING tenant
