-- Stores a new key; the secret itself never reaches the database, only its digest.
INSERT INTO {schema}.api_keys (id, tenant, name, secret_hash, scopes, queues)
VALUES (:id, :tenant, :name, :secret_hash, (:scopes)::text[], (:queues)::text[])
RETURNING {key_columns}
