-- The database clock: the only clock taskrow schedules by (transaction-independent).
SELECT clock_timestamp() AS now
