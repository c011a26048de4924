-- Every limit of one request, decided and recorded atomically with one EVALSHA; all consumed or none.
-- Mirrors throttle/gcra.py (decide_gcra) and throttle/quota.py (window_bounds, decide_quota): change together.
-- KEYS[i]: one key per limit (throttle/keys.py builds them).
-- ARGV[1]: now in microseconds, or "" to use the Redis clock (TIME): one clock for every gateway instance.
-- Then four arguments per key: kind ("gcra" | "day" | "month"), consume ("1" | "0"), a, b
--   gcra: a = emission interval T (µs), b = tolerance = burst x T (µs);  day | month: a = quota, b unused.
-- Returns one {allowed, remaining, retry_after_us, reset_us, window_s} per key.
local OFFSET = 25200 -- Asia/Jakarta is UTC+7, no daylight saving
local DAY = 86400
local floor = math.floor

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mm = m + 9
  if m > 2 then mm = m - 3 end
  local doy = floor((153 * mm + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local d = doy - floor((153 * mp + 2) / 5) + 1
  local m = mp - 9
  if mp < 10 then m = mp + 3 end
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m, d
end

local function window_bounds(now, kind)
  local days = floor((floor(now / 1000000) + OFFSET) / DAY)
  local first, following = days, days + 1
  if kind == "month" then
    local y, m, d = civil_from_days(days)
    first = days - d + 1
    if m == 12 then following = days_from_civil(y + 1, 1, 1) else following = days_from_civil(y, m + 1, 1) end
  end
  return first * DAY - OFFSET, following * DAY - OFFSET
end

local now
if ARGV[1] == "" then
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end

local results, writes, all_allowed = {}, {}, true
for i, key in ipairs(KEYS) do
  local base = 1 + (i - 1) * 4
  local kind, consume = ARGV[base + 1], ARGV[base + 2] == "1"
  local a, b = tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local stored = redis.call("GET", key)
  if kind == "gcra" then
    local tat = now
    if stored then tat = math.max(tonumber(stored), now) end
    local new_tat = tat + a
    local ahead = new_tat - now
    if ahead <= b then
      results[i] = {1, floor((b - ahead) / a), 0, ahead, 0}
      -- Lua would print a large number as 1.7e+15: format it, never let redis.call convert it.
      if consume then writes[#writes + 1] = {key, string.format("%.0f", new_tat), math.ceil(ahead / 1000)} end
    else
      results[i] = {0, 0, ahead - b, tat - now, 0}
      all_allowed = false
    end
  else
    local first, following = window_bounds(now, kind)
    local count = 0
    if stored then
      local stored_first, stored_count = string.match(stored, "^(%d+):(%d+)$")
      if tonumber(stored_first) == first then count = tonumber(stored_count) end
    end
    local reset = following * 1000000 - now
    if count < a then
      results[i] = {1, a - count - 1, 0, reset, following - first}
      if consume then
        writes[#writes + 1] = {key, string.format("%.0f:%.0f", first, count + 1), math.ceil(reset / 1000)}
      end
    else
      results[i] = {0, 0, reset, reset, following - first}
      all_allowed = false
    end
  end
end

if all_allowed then
  for _, write in ipairs(writes) do
    redis.call("SET", write[1], write[2], "PX", string.format("%.0f", write[3]))
  end
end
return results
