if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('EXISTS', KEYS[2]) == 0 then return 'rebuild' end
  return {'missing'}
end
local now, expires = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 5, 7 do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now) end
local function full(key, most)
  if redis.call('ZCARD', key) < most then return nil end
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tonumber(first[2]) - now
end
local wait = full(KEYS[6], tonumber(ARGV[4]))
if wait then return {'client', wait} end
wait = full(KEYS[7], tonumber(ARGV[5]))
if wait then return {'instance', wait} end
for i = 5, 7 do
  redis.call('ZADD', KEYS[i], expires, ARGV[3])
  redis.call('PEXPIRE', KEYS[i], expires - now)
end
local top = redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', 1)
local cursor = '0-0'
if top[1] then cursor = top[1][1] end
return {'ok', tonumber(redis.call('GET', KEYS[3]) or '0'), cursor, redis.call('ZCARD', KEYS[5])}
