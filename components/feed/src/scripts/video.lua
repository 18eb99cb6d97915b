local record = redis.call('GET', KEYS[1])
if not record then
  if redis.call('EXISTS', KEYS[2]) == 0 then return 'rebuild' end
  return {false}
end
local shards = tonumber(ARGV[1])
local likes, plays = 0, 0
for i = 1, shards do
  likes = likes + redis.call('SCARD', KEYS[2 + i])
  plays = plays + tonumber(redis.call('GET', KEYS[2 + shards + i]) or '0')
end
local liked = 0
if ARGV[2] ~= '' then liked = redis.call('SISMEMBER', KEYS[3 + tonumber(ARGV[3])], ARGV[2]) end
return {record, likes, plays, liked, tonumber(redis.call('GET', KEYS[#KEYS]) or '0')}
