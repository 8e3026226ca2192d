-- Wakes the workers of a queue at commit (after a re-drive; enqueue notifies by itself).
SELECT pg_notify(:channel, :queue)
