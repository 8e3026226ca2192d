-- Whether a released task (t) used its last attempt: only when it is not refunded.
NOT :refund AND t.attempts >= t.max_attempts
