if not redis.call('SET', KEYS[4], ARGV[5], 'NX', 'PX', ARGV[6]) then return { 0 } end
local reply = { 1, 0 }
local old = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[4], 'LIMIT', 0, ARGV[7])
if #old > 0 then
  redis.call('ZREM', KEYS[5], unpack(old))
  reply[2] = #old
  for _, hash in ipairs(old) do table.insert(reply, hash) end
end
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
local count = tonumber(ARGV[3])
local read = 0
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4], 'LIMIT', 0, count)
for _, id in ipairs(due) do
  table.insert(reply, 'retry')
  table.insert(reply, id)
  table.insert(reply, redis.call('HGET', KEYS[3], id) or '')
  read = read + 1
end
local function take(from, n)
  if n <= 0 then return end
  local streams = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', n, 'STREAMS', KEYS[1], from)
  if streams and streams[1] then
    for _, e in ipairs(streams[1][2]) do
      table.insert(reply, e[1])
      table.insert(reply, e[2] and cjson.encode(e[2]) or 'false')
      read = read + 1
    end
  end
end
take('0', count - read)
take('>', count - read)
if read == 0 then redis.call('DEL', KEYS[4]) end
return reply
