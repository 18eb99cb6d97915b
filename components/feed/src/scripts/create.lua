if redis.call('EXISTS', KEYS[6]) == 0 then return 'rebuild' end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local id = ms * 4096
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if id <= last then id = last + 1 end
local sid = string.format('%d', id)
redis.call('SET', KEYS[1], sid)
redis.call('SET', KEYS[2], sid)
redis.call('SET', 'video:' .. sid, '{"id":' .. sid .. ARGV[2])
redis.call('ZADD', KEYS[3], sid, sid)
redis.call('ZADD', KEYS[4], sid, sid)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', 'kind', 'video', 'id', sid, 'version', '1', 'op', 'upsert')
return sid
