if redis.call('EXISTS', KEYS[3]) == 0 then return 'rebuild' end
if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('EXISTS', KEYS[2]) == 0 then return 'rebuild' end
  return -1
end
local found = redis.call('GET', KEYS[4])
if not found or string.format('%d', cjson.decode(found).video) ~= ARGV[3] then return -3 end
local like = ARGV[2] == 'like'
if (redis.call('SISMEMBER', KEYS[5], ARGV[1]) == 1) ~= like then
  -- Only a change is paced; repeating the current state is always answered.
  local interval = tonumber(ARGV[4])
  if interval > 0 and not redis.call('SET', KEYS[8], '1', 'PX', interval, 'NX') then
    return {-2, redis.call('PTTL', KEYS[8])}
  end
  if like then redis.call('SADD', KEYS[5], ARGV[1]) else redis.call('SREM', KEYS[5], ARGV[1]) end
  -- A reply is in no hot order, so XX leaves the order alone.
  redis.call('ZADD', KEYS[6], 'XX', hot(ARGV[5], redis.call('SCARD', KEYS[5]), redis.call('ZCARD', KEYS[7])), ARGV[5])
end
return redis.call('SCARD', KEYS[5])
