-- wrk script of bench/load_bench.py: POST /scan {"pid": PID} with Accept ACCEPT, back to back,
-- and every answer classified. PID "-" asks GET /healthz instead (ACCEPT is then ignored): the
-- floor, a request that touches no process.
--
--   wrk -t T -c C -d S --timeout 30s -s bench/load/scan.lua URL -- PID ACCEPT
--
-- ok: a complete 200 (NDJSON: the last line is the trailer with "walk_end"; raw records: the
-- last 24 bytes are the trailer, whose first 8 bytes are 0xff); busy: a 503; bad: any other status
-- or an incomplete body (the first one is kept as a sample). done() prints one line,
-- "pmscan-load " followed by JSON: wrk's own counts (microseconds) and the classified ones.
--
-- Each wrk thread runs the script in a Lua state of its own: the counters are globals of each
-- thread's state, which done() (in the main state) collects with thread:get().

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local pid, accept = args[1], args[2]
   health = pid == "-"
   if health then
      wrk.method = "GET"
      wrk.path = "/healthz"
   else
      wrk.method = "POST"
      wrk.path = "/scan"
      wrk.body = '{"pid": ' .. pid .. '}'
      wrk.headers["Content-Type"] = "application/json"
      wrk.headers["Accept"] = accept
   end
   binary = accept == "application/octet-stream"
   ok, busy, bad, sample = 0, 0, 0, ""
end

local TRAILER_MARK = string.rep("\255", 8)
local NEWLINE = 10

local function complete(body)
   if health then
      return body:find('"ok"', 1, true) ~= nil
   end
   if binary then
      return #body >= 24 and body:sub(-24, -17) == TRAILER_MARK
   end
   -- The last line, found from the end (no pattern: Lua's matcher would try every position).
   local stop = #body
   if stop == 0 or body:byte(stop) ~= NEWLINE then
      return false
   end
   local first = stop - 1
   while first > 0 and body:byte(first) ~= NEWLINE do
      first = first - 1
   end
   return body:find('"walk_end"', first + 1, true) ~= nil
end

-- A JSON string. Made in the thread's own state: thread:get() copies a string only up to its
-- first zero byte.
local function quote(s)
   s = s:gsub('[%c"\\\128-\255]', function(c)
      return string.format("\\u%04x", c:byte())
   end)
   return '"' .. s .. '"'
end

function response(status, headers, body)
   if status == 200 and complete(body) then
      ok = ok + 1
   elseif status == 503 then
      busy = busy + 1
   else
      bad = bad + 1
      if sample == "" then
         sample = quote(status .. " " .. #body .. " bytes: " .. body:sub(1, 120) .. " ... " .. body:sub(-120))
      end
   end
end

function done(summary, latency, requests)
   local totals = { ok = 0, busy = 0, bad = 0 }
   local samples = {}
   for _, thread in ipairs(threads) do
      for key in pairs(totals) do
         totals[key] = totals[key] + (thread:get(key) or 0)
      end
      local s = thread:get("sample")
      if s and s ~= "" then
         table.insert(samples, s)
      end
   end
   local e = summary.errors
   local n = summary.requests > 0
   io.write(string.format(
      'pmscan-load {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}, ' ..
      '"ok": %d, "busy": %d, "bad": %d, "samples": [%s]}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      n and latency:percentile(50) or 0, n and latency:percentile(90) or 0,
      n and latency:percentile(99) or 0, latency.max, n and latency.mean or 0,
      totals.ok, totals.busy, totals.bad, table.concat(samples, ", ")))
end
