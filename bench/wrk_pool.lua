-- wrk script: a different data token on every request, like a real ALB (see bench/http.py).
-- Arguments (after `--`): the folder holding `users` (one "<access token> <sub>" line per user)
-- and `tokens` (one "<user index> <data token>" line per request), then one start position per
-- wrk thread. Thread k sends the tokens whose line number is k modulo the number of threads,
-- from its start position on, wrapping round at the end. `done` prints where each thread
-- stopped, so that the next run goes on from there instead of repeating recent tokens.

local threads = {}

function setup(thread)
  thread:set("slice", #threads)
  table.insert(threads, thread)
end

function init(args)
  local folder, starts = args[1], {}
  for index = 2, #args do
    table.insert(starts, tonumber(args[index]))
  end
  -- A request is the user's request text with the data token spliced in: wrk.format once per
  -- user, then one concatenation per request, so the load generator's own cost stays small.
  local marker, templates = "DATA-TOKEN-GOES-HERE", {}
  for line in io.lines(folder .. "/users") do
    local access, sub = line:match("^(%S+) (%S+)$")
    local text = wrk.format(nil, nil, {
      ["x-amzn-oidc-data"] = marker,
      ["x-amzn-oidc-accesstoken"] = access,
      ["x-amzn-oidc-identity"] = sub,
    })
    local cut = text:find(marker, 1, true)
    table.insert(templates, { text:sub(1, cut - 1), text:sub(cut + #marker) })
  end
  -- Globals: what `request` uses, and `position`, which `done` reads with thread:get.
  pool, count, position = {}, 0, starts[slice + 1]
  local number = 0
  for line in io.lines(folder .. "/tokens") do
    if number % #starts == slice then
      local user, data = line:match("^(%d+) (%S+)$")
      table.insert(pool, { templates[tonumber(user) + 1], data })
      count = count + 1
    end
    number = number + 1
  end
end

function request()
  local item = pool[position % count + 1]
  position = position + 1
  return item[1][1] .. item[2] .. item[1][2]
end

function done(summary, latency, requests)
  local positions = {}
  for _, thread in ipairs(threads) do
    table.insert(positions, tostring(thread:get("position")))
  end
  io.write("pool positions: " .. table.concat(positions, " ") .. "\n")
end
