-- Deletes one bounded batch of the oldest finished tasks; SKIP LOCKED so it never waits.
WITH doomed AS (
    SELECT id FROM {schema}.tasks
    WHERE {finished} AND finished_at < now() - make_interval(secs => :older_than)
    ORDER BY finished_at
    LIMIT :batch_size
    FOR UPDATE SKIP LOCKED
)
DELETE FROM {schema}.tasks AS t USING doomed WHERE t.id = doomed.id
