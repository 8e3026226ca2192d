-- queue_core.sql.for_schema('taskrow').notify_queue_usage, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/notify_queue_usage.sql, not this.
SELECT pg_notification_queue_usage() AS usage
