if redis.call('EXISTS', KEYS[1]) == 0 then return 'rebuild' end
local limit = tonumber(ARGV[2])
local ids = {}
for i = 2, #KEYS do
  for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[i], ARGV[1], '-inf', 'LIMIT', 0, limit)) do
    ids[#ids + 1] = tonumber(id)
  end
end
table.sort(ids, function(a, b) return a > b end)
local out = {}
for i = 1, math.min(#ids, limit) do out[#out + 1] = string.format('%d', ids[i]) end
return out
