-- queue_core.sql.for_schema('taskrow').now, as it is sent (its layout collapsed to
-- one line when it runs; broken into lines here at its clauses). Rendered by
-- tests/core/test_rendered_sql.py: edit queue_core/sql/now.sql, not this.
SELECT clock_timestamp() AS now
