-- One task, of :tenant unless it is NULL (an operator).
SELECT * FROM {schema}.tasks WHERE id = :id AND ((:tenant)::text IS NULL OR tenant = :tenant)
