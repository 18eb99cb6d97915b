local union = KEYS[#KEYS]
redis.call('ZUNIONSTORE', union, #KEYS - 1, unpack(KEYS, 1, #KEYS - 1))
local top = redis.call('ZREVRANGEBYSCORE', union, '+inf', '(0', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
redis.call('DEL', union)
return top
