if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'lost'} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local n = (#KEYS - 6) / 3
for i = 1, n do
  local id = ARGV[3 + 3 * i]
  if redis.call('SET', KEYS[4 + 3 * i], ARGV[4 + 3 * i], 'NX') then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'kind', 'video', 'id', id, 'version', ARGV[5 + 3 * i], 'op', 'upsert')
  end
  redis.call('ZADD', KEYS[5 + 3 * i], id, id)
  redis.call('ZADD', KEYS[6 + 3 * i], id, id)
end
local last = tonumber(redis.call('GET', KEYS[4]) or '0')
for i = 6 + 3 * n, #ARGV do
  if tonumber(ARGV[i]) > last then last = tonumber(ARGV[i]) end
  redis.call('ZREM', KEYS[2], ARGV[i])
end
if last > 0 then redis.call('SET', KEYS[4], string.format('%d', last)) end
local next = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[3]) - 1)
if #next == 0 then
  redis.call('SET', KEYS[5], '1')
  redis.call('DEL', KEYS[6], KEYS[1])
  return {'built'}
end
if ARGV[5] == '1' then redis.call('DEL', KEYS[1]) end
table.insert(next, 1, 'more')
return next
