-- Forgets a worker that stops.
DELETE FROM {schema}.workers WHERE id = :id
