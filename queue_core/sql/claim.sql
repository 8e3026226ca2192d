-- Leases up to :n tasks of :queues (see _claim.sql); answers whole rows, in claim order.
WITH {claim}
SELECT * FROM updated WHERE state = 'running' ORDER BY rank, claim_priority DESC, due_at, id
