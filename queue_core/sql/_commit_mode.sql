-- Sets this transaction's synchronous_commit to :synchronous_commit ('off' lets an
-- acknowledgement commit without waiting for its WAL flush: opt-in; after a Postgres crash
-- such a task may run again).
CROSS JOIN (SELECT set_config('synchronous_commit', :synchronous_commit, true)) AS commit_mode
