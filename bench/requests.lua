-- Cycle through pre-signed requests read from a file (svix-id, timestamp, signature, body
-- separated by tabs, one request a line). Each wrk thread takes every n-th line, so no
-- svix-id is sent twice unless the list runs out (reported as "wrapped").
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  requests, n, wrapped = {}, 0, 0
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == tid then
      local id, ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", "/webhooks/clerk", {
        ["svix-id"] = id, ["svix-timestamp"] = ts, ["svix-signature"] = sig,
        ["Content-Type"] = "application/json",
      }, body)
    end
    i = i + 1
  end
end

function request()
  n = n + 1
  if n > #requests then
    n, wrapped = 1, wrapped + 1
  end
  return requests[n]
end

function done(summary, latency, requests)
  local w = 0
  for _, thread in ipairs(threads) do
    w = w + thread:get("wrapped")
  end
  io.write(string.format("wrapped: %d\n", w))
end
