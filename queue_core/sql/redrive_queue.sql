-- Re-drives every dead task of :queue (see _redriven.sql); answers how many.
WITH driven AS (
    UPDATE {schema}.tasks SET {redriven}
    WHERE queue = :queue AND ((:tenant)::text IS NULL OR tenant = :tenant)
      AND state = 'dead'
    RETURNING 1
)
SELECT count(*) AS n FROM driven
