-- The fraction (0 to 1) of the cluster's NOTIFY queue in use: a listener that stops reading
-- pins it, and once it is full every enqueue (which notifies) fails.
SELECT pg_notification_queue_usage() AS usage
