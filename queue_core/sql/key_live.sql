-- The live key :key_id, with the digest to check a presented token against.
SELECT {key_columns}, secret_hash {live_key}
