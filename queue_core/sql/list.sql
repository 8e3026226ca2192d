-- Tasks newest first, filtered, after the cursor (:before_created, :before_id) if given.
SELECT * FROM {schema}.tasks
WHERE ((:tenant)::text IS NULL OR tenant = :tenant)
  AND ((:queue)::text IS NULL OR queue = :queue)
  AND ((:state)::text IS NULL OR state = :state)
  AND ((:before_created)::timestamptz IS NULL
       OR (created_at, id) < ((:before_created)::timestamptz, (:before_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT :limit
