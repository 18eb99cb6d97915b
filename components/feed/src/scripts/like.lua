if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('EXISTS', KEYS[4]) == 0 then return 'rebuild' end
  return -1
end
local like = ARGV[2] == 'like'
if (redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1) ~= like then
  -- Only a change is paced; repeating the current state is always answered.
  local interval = tonumber(ARGV[6])
  if interval > 0 and not redis.call('SET', KEYS[5], '1', 'PX', interval, 'NX') then
    return {-2, redis.call('PTTL', KEYS[5])}
  end
  local weight = tonumber(ARGV[3])
  if like then redis.call('SADD', KEYS[2], ARGV[1]) else redis.call('SREM', KEYS[2], ARGV[1]); weight = -weight end
  redis.call('ZINCRBY', KEYS[3], weight, ARGV[5])
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
local total = 0
for i = 6, #KEYS do total = total + redis.call('SCARD', KEYS[i]) end
return total
