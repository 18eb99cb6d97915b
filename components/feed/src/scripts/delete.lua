local current = redis.call('GET', KEYS[1])
if not current then
  if redis.call('EXISTS', KEYS[5]) == 0 then return 'rebuild' end
  return 'missing'
end
local record = cjson.decode(current)
if record.author ~= ARGV[1] then return 'not-owner' end
local id = string.match(KEYS[1], '%d+$')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'kind', 'video', 'id', id, 'version', tostring(record.version + 1), 'op', 'delete')
return 'ok'
