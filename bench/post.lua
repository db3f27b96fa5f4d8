-- wrk script of `python -m bench`: POSTs one JSON body (BENCH_BODY) with BENCH_AUTHORIZATION,
-- counts responses by HTTP status in every thread, and done() prints one line
-- "BENCH_RESULT {...}" of JSON: requests, socket errors, non-2xx, status counts, latency percentiles (µs).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

counts = {}

function response(status, headers, body)
   counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
   local by_status = {}
   for _, thread in ipairs(threads) do
      local thread_counts = thread:get("counts") or {}
      for status, n in pairs(thread_counts) do
         by_status[status] = (by_status[status] or 0) + n
      end
   end
   local non_2xx = 0
   local statuses = {}
   for status, n in pairs(by_status) do
      if status < 200 or status > 299 then
         non_2xx = non_2xx + n
      end
      table.insert(statuses, string.format('"%d": %d', status, n))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"non_2xx": %d, "status_counts": {%s}, ' ..
      '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, ' ..
      '"p50": %d, "p90": %d, "p99": %d, "p99_9": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      non_2xx, table.concat(statuses, ", "),
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
