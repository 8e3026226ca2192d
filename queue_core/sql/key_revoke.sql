-- Revokes once: a second revoke matches no row and leaves the first timestamp in place.
UPDATE {schema}.api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = :id
RETURNING {key_columns}
