redis.call('INCR', KEYS[1])
if ARGV[1] ~= '0' then redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2]) end
if redis.call('GET', KEYS[3]) == ARGV[3] then redis.call('DEL', KEYS[3]) end
if ARGV[4] == '1' then redis.call('DEL', KEYS[4], KEYS[5], KEYS[6]) end
return 1
