-- wrk script for ci/bench_log.sh: random inclusion proofs in a log of LOG_SIZE entries.
math.randomseed(os.time())
local size = tonumber(os.getenv("LOG_SIZE") or "1000000")
local path = os.getenv("LOG_PATH") or "inclusion"

request = function()
  if path == "consistency" then
    local to = math.random(2, size)
    local from = math.random(1, to - 1)
    return wrk.format("GET", "/v1/log/proof/consistency?from=" .. from .. "&to=" .. to)
  end
  local index = math.random(0, size - 1)
  return wrk.format("GET", "/v1/log/proof/inclusion?index=" .. index .. "&size=" .. size)
end

response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
