-- wrk script of bench/serve/run.sh: POSTs the JSON body in the file named by
-- $BODY_FILE on every request, and at the end prints one machine-readable line:
--   BENCH {"requests":N,"duration_us":N,"p50_us":N,"p99_us":N,"errors":N,...}
-- where errors counts connect, read, write and timeout errors and non-2xx answers.
local path = os.getenv("BODY_FILE")
if not path then
  io.stderr:write("post.lua: set BODY_FILE to the request body\n")
  os.exit(2)
end
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout,
    e.connect, e.read, e.write, e.status, e.timeout))
end
