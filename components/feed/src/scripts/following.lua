if redis.call('EXISTS', KEYS[2]) == 0 then return 'rebuild' end
local limit = tonumber(ARGV[2])
local authors = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
local ids = {}
for _, author in ipairs(authors) do
  for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', 'feed:author:' .. author, ARGV[1], '-inf', 'LIMIT', 0, limit)) do
    ids[#ids + 1] = tonumber(id)
  end
end
table.sort(ids, function(a, b) return a > b end)
local out = {}
for i = 1, math.min(#ids, limit) do
  local sid = string.format('%d', ids[i])
  out[#out + 1] = sid
  out[#out + 1] = redis.call('GET', 'video:' .. sid) or false
end
return out
