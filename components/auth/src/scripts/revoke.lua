local n = 0
for i = 2, #ARGV do
  local sid, key, marker = ARGV[i], KEYS[2 * i - 2], KEYS[2 * i - 1]
  if redis.call('SISMEMBER', KEYS[1], sid) == 1 then
    redis.call('SREM', KEYS[1], sid)
    if redis.call('EXISTS', key) == 1 and redis.call('HGET', key, 'revoked') ~= '1' then
      redis.call('HSET', key, 'revoked', '1')
      n = n + 1
    end
    redis.call('SET', marker, '1', 'EX', tonumber(ARGV[1]))
  end
end
return n
