-- KEYS[1] = ntf:<user> (groups by last activity), KEYS[2] = ntf:<user>:seen (read watermark).
if ARGV[1] == 'unread' then
  return redis.call('ZCOUNT', KEYS[1], '(' .. (redis.call('GET', KEYS[2]) or '0'), '+inf')
end
if ARGV[1] == 'read' then
  local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if top[2] then redis.call('SET', KEYS[2], top[2], 'EX', ARGV[2]) end
  return 0
end
-- 'page': the watermark, then per group: score, kind, video, comment, count, latest actors.
local groups = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[2], '-inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
local out = { redis.call('GET', KEYS[2]) or '0' }
for i = 1, #groups, 2 do
  local gkey = KEYS[1] .. ':g:' .. groups[i]
  local fields = redis.call('HMGET', gkey, 'kind', 'video', 'comment', 'count')
  out[#out + 1] = groups[i + 1]
  for j = 1, 4 do out[#out + 1] = fields[j] or '' end
  out[#out + 1] = table.concat(redis.call('LRANGE', gkey .. ':r', 0, 2), ',')
end
return out
