local pending, lag = 0, -1
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if ok then
  for _, g in ipairs(groups) do
    local info = {}
    for j = 1, #g, 2 do info[g[j]] = g[j + 1] end
    if info['name'] == ARGV[1] then
      pending = info['pending'] or 0
      if info['lag'] then lag = info['lag'] end
    end
  end
else
  lag = redis.call('XLEN', KEYS[1])
end
local stats = redis.call('HMGET', KEYS[5], 'last_pass_at', 'applied')
return { pending, lag, redis.call('XLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('HLEN', KEYS[3]),
  tonumber(redis.call('GET', KEYS[4]) or '0'), tonumber(stats[1] or '0'), tonumber(stats[2] or '0') }
