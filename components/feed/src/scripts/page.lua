if redis.call('EXISTS', KEYS[2]) == 0 then return 'rebuild' end
return redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'LIMIT', 0, tonumber(ARGV[2]))
