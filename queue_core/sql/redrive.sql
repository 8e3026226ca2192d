-- Re-drives one dead task (see _redriven.sql).
UPDATE {schema}.tasks SET {redriven}
WHERE id = :id AND ((:tenant)::text IS NULL OR tenant = :tenant) AND state = 'dead'
RETURNING *
