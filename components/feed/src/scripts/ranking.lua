local union = KEYS[#KEYS]
redis.call('ZUNIONSTORE', union, #KEYS - 1, unpack(KEYS, 1, #KEYS - 1))
local top = redis.call('ZREVRANGEBYSCORE', union, '+inf', '(0', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
redis.call('DEL', union)
local out = {}
for i = 1, #top, 2 do
  out[#out + 1] = top[i]
  out[#out + 1] = top[i + 1]
  out[#out + 1] = redis.call('GET', 'video:' .. top[i]) or false
end
return out
