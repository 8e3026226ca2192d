-- wrk script for `taskrow bench enqueue-http`: POST one JSON task per request with a bearer
-- token (TASKROW_BENCH_TOKEN) and, when TASKROW_BENCH_IDEMPOTENCY=1, a unique Idempotency-Key;
-- prints the figures as one JSON line when the run ends.
--   TASKROW_BENCH_TOKEN=trk_... wrk -t2 -c16 -d10s -s post.lua http://127.0.0.1:8000/v1/tasks

local threads = {}
local counter = 0

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

wrk.method = "POST"
wrk.body = '{"task": "noop", "args": {"n": 1}}'
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TASKROW_BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local keyed = os.getenv("TASKROW_BENCH_IDEMPOTENCY") == "1"
local run_id = os.getenv("TASKROW_BENCH_RUN") or "run"

function request()
  if not keyed then
    return wrk.format()
  end
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = string.format("%s-%d-%d", run_id, thread_id or 0, counter)
  return wrk.format()
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "req_per_s": %.1f, "p50_ms": %.3f, "p95_ms": %.3f, ' ..
    '"p99_ms": %.3f, "max_ms": %.3f, "errors_connect": %d, "errors_read": %d, ' ..
    '"errors_write": %d, "errors_timeout": %d, "errors_status": %d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.timeout, e.status))
end
