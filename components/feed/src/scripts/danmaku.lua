if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('EXISTS', KEYS[6]) == 0 then return 'rebuild' end
  return -1
end
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', tonumber(ARGV[1])) then return 0 end
local id = redis.call('INCR', KEYS[3])
local json = '{"id":' .. id .. ARGV[2]
redis.call('ZADD', KEYS[4], ARGV[3], json)
redis.call('ZADD', KEYS[5], id, json)
redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -tonumber(ARGV[4]) - 1)
redis.call('XADD', KEYS[7], 'MAXLEN', '~', 100, '*', 'id', id)
return id
