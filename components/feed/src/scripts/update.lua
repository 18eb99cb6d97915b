local current = redis.call('GET', KEYS[1])
if not current then
  if redis.call('EXISTS', KEYS[3]) == 0 then return 'rebuild' end
  return 'missing'
end
local record = cjson.decode(current)
if record.author ~= ARGV[1] then return 'not-owner' end
if record.version ~= tonumber(ARGV[2]) then return 'conflict:' .. record.version end
redis.call('SET', KEYS[1], ARGV[3])
local id = string.match(KEYS[1], '%d+$')
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'kind', 'video', 'id', id, 'version', tostring(record.version + 1), 'op', 'upsert')
return 'ok'
