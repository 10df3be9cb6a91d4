-- GCRA on one key, atomic: the server's own clock (TIME), so no client's
-- clock can grant extra calls.
--   KEYS[1]  the key's state: its theoretical arrival time (TAT), in µs
--   ARGV[1]  T, the emission interval (µs)
--   ARGV[2]  tau, the burst tolerance: (burst - 1) * T (µs)
--   ARGV[3]  n, the calls asked for
-- Returns {1, next, now} when admitted (next: how long until one more call
-- would conform, 0 if it would now), {0, retry_after, now} when not (µs).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local new_tat = tat + n * T
-- The earliest time these n calls conform.
local allow_at = new_tat - T - tau
if allow_at > now then
  return {0, allow_at - now, now}
end
-- Expires when the state is full again (TAT reached): idle keys cost nothing.
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
return {1, math.max(0, new_tat - tau - now), now}
