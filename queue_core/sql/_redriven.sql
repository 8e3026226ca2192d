-- What re-driving a dead task sets: a fresh task (attempts start again, the last error is
-- cleared).
state = 'queued', attempts = 0, run_at = now(), finished_at = NULL, started_at = NULL,
result = NULL, error_type = NULL, error_message = NULL, error_traceback = NULL,
progress_current = NULL, progress_total = NULL, progress_message = NULL, worker_id = NULL
