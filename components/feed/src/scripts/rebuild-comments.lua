if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'lost'} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local n = (#KEYS - 5) / 8
for i = 0, n - 1 do
  local k, a = 5 + 8 * i, 4 + 3 * i
  local id, root = ARGV[a + 1], ARGV[a + 3]
  -- A comment comes back with its video only, and a reply with its thread's root only (restored
  -- before it: ids grow). The record, written once, keeps a retried step from counting twice.
  local thread_back = root == '' or redis.call('EXISTS', KEYS[k + 8]) == 1
  if redis.call('EXISTS', KEYS[k + 2]) == 1 and thread_back and redis.call('SET', KEYS[k + 1], ARGV[a + 2], 'NX') then
    redis.call('INCR', KEYS[k + 3])
    local thread = id
    if root == '' then
      redis.call('ZADD', KEYS[k + 4], id, id)
    else
      thread = root
      redis.call('ZADD', KEYS[k + 6], id, id)
    end
    redis.call('ZADD', KEYS[k + 5], hot(thread, redis.call('SCARD', KEYS[k + 7]), redis.call('ZCARD', KEYS[k + 6])), thread)
  end
end
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
for i = 5 + 3 * n, #ARGV do
  local id = tonumber(string.match(ARGV[i], '(%d+)$'))
  if id > last then last = id end
  redis.call('ZREM', KEYS[2], ARGV[i])
end
if last > 0 then redis.call('SET', KEYS[3], string.format('%d', last)) end
local next = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[3]) - 1)
if #next == 0 then
  redis.call('SET', KEYS[4], '1')
  redis.call('DEL', KEYS[5], KEYS[1])
  return {'built'}
end
if ARGV[4] == '1' then redis.call('DEL', KEYS[1]) end
table.insert(next, 1, 'more')
return next
