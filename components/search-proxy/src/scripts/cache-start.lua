local generation = tonumber(redis.call('GET', KEYS[1]) or '0')
local open = redis.call('GET', KEYS[2]) or '0'
local failures = redis.call('GET', KEYS[3]) or '0'
local now = tonumber(ARGV[3])
if tonumber(ARGV[1]) >= generation and now < tonumber(ARGV[2]) then
  return { generation, open, failures, 1, 0, 0 }
end
if not redis.call('SET', KEYS[4], ARGV[4], 'NX', 'PX', ARGV[5]) then
  return { generation, open, failures, 0, 0, 0 }
end
local work = 1
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[5])
if ok then
  for _, g in ipairs(groups) do
    local info = {}
    for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
    if info['name'] == ARGV[6] and info['pending'] == 0 and info['lag'] == 0 then work = 0 end
  end
end
if work == 0 and #redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now, 'LIMIT', 0, 1) > 0 then work = 1 end
if work == 0 and #redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now, 'LIMIT', 0, 1) > 0 then work = 1 end
return { generation, open, failures, 0, 1, work }
