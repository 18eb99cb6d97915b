local ids = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('GET', 'video:' .. id)
  if v then table.insert(out, v) end
end
return out
