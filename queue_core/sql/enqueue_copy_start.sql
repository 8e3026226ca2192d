-- Opens a bulk enqueue loaded with COPY (enqueue_copy): the transaction's durable commit and
-- its wake-up at commit, as the INSERT of enqueue.sql does them, and the database clock that
-- the rows' run_at is computed from (now() is the transaction's start, constant within it: it
-- is what the INSERT's and the table's defaults would use).
SELECT now() AS now FROM ({durable_and_notify}) AS side_effects
