-- Whether a failed attempt (t, with its report v) goes back to the queue.
NOT t.cancel_requested AND v.retryable AND t.attempts < t.max_attempts
