if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used + tonumber(ARGV[2]) > tonumber(ARGV[4]) then return 2 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], 172800)
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
return 0
