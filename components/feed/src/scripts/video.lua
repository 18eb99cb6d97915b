local record = redis.call('GET', KEYS[1])
if not record then
  if redis.call('EXISTS', KEYS[2]) == 0 then return 'rebuild' end
  return {false}
end
local likes, plays = 0, 0
for i = 0, tonumber(ARGV[2]) - 1 do
  likes = likes + redis.call('SCARD', 'likes:' .. ARGV[1] .. ':' .. i)
  plays = plays + tonumber(redis.call('GET', 'plays:' .. ARGV[1] .. ':' .. i) or '0')
end
local liked = 0
if ARGV[3] ~= '' then liked = redis.call('SISMEMBER', 'likes:' .. ARGV[1] .. ':' .. ARGV[4], ARGV[3]) end
return {record, likes, plays, liked}
