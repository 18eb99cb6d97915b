local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local cursor = '0-0'
if top[1] then cursor = top[1][1] end
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'LIMIT', 0, tonumber(ARGV[2]))
table.insert(items, 1, redis.call('ZCOUNT', KEYS[3], '(' .. ARGV[3], '+inf'))
table.insert(items, 1, cursor)
return items
