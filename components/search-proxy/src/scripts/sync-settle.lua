local i = 4
while i <= #ARGV do
  local op, id = ARGV[i], ARGV[i + 1]
  redis.call('XACK', KEYS[1], ARGV[1], id)
  if op == 'retry' then
    redis.call('ZADD', KEYS[2], ARGV[i + 2], id)
    redis.call('HSET', KEYS[3], id, ARGV[i + 3])
  else
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    if op == 'park' then redis.call('HSET', KEYS[4], id, ARGV[i + 3]) end
  end
  i = i + 4
end
redis.call('HSET', KEYS[6], 'last_pass_at', ARGV[3])
if tonumber(ARGV[2]) > 0 then
  redis.call('HINCRBY', KEYS[6], 'applied', ARGV[2])
  return redis.call('INCR', KEYS[5])
end
return tonumber(redis.call('GET', KEYS[5]) or '0')
