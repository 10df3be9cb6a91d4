-- GCRA on one key, atomic: the server's own clock (TIME), so no client's
-- clock can grant extra calls.
--   KEYS[1]    the key's state: its theoretical arrival time (TAT), in µs
--   ARGV[1]    T, the emission interval (µs)
--   ARGV[2]    tau, the burst tolerance: (burst - 1) * T (µs)
--   ARGV[3..]  n, the calls asked for by each caller, decided in order
-- Returns {now, next, admitted_1, retry_1, admitted_2, retry_2, ...} (µs):
-- next, how long until one more call would conform (0 if it would now);
-- admitted 1 (retry 0) or 0 with retry the wait until those n conform.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local out = {now, 0}
local admitted = false
for i = 3, #ARGV do
  local new_tat = tat + tonumber(ARGV[i]) * T
  -- The earliest time these n calls conform.
  local allow_at = new_tat - T - tau
  if allow_at > now then
    out[#out + 1] = 0
    out[#out + 1] = allow_at - now
  else
    tat = new_tat
    admitted = true
    out[#out + 1] = 1
    out[#out + 1] = 0
  end
end
out[2] = math.max(0, tat - tau - now)
-- Expires when the state is full again (TAT reached): idle keys cost nothing.
if admitted then
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
end
return out
