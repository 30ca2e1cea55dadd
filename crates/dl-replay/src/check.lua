-- dl-replay: rate limit (GCRA) + nonce, atomically, for one request of a caller that has a rate limit.
--
-- KEYS[1]  nonce key  (<prefix>nonce:<sha256 of caller and request id>)
-- KEYS[2]  rate key   (<prefix>rl:<sha256 of caller>)
-- ARGV[1]  position of the Kafka message carrying the request ("topic/partition/offset")
-- ARGV[2]  nonce TTL in milliseconds
-- ARGV[3]  emission interval T = 1000 / rate, in milliseconds (decimal string)
-- ARGV[4]  burst (requests allowed back to back from idle), >= 1
--
-- Returns {0}                  fresh: rate allowed, nonce stored
--         {1, stored_position} nonce already present: the caller compares positions
--                              (equal: Kafka redelivery, different: replay); no rate token spent
--         {2, retry_after_ms}  rate limited: nothing stored, the nonce is NOT consumed
--
-- Time comes from the Redis server (TIME), the one clock every worker replica shares.
local existing = redis.call('GET', KEYS[1])
if existing then
  return {1, existing}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])

local tat = tonumber(redis.call('GET', KEYS[2]) or '')
if tat == nil or tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return {2, math.ceil(allow_at - now)}
end

redis.call('SET', KEYS[2], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {0}
