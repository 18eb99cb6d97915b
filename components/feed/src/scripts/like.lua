if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('EXISTS', KEYS[4]) == 0 then return 'rebuild' end
  return -1
end
local changed
if ARGV[2] == 'like' then changed = redis.call('SADD', KEYS[2], ARGV[1]) else changed = redis.call('SREM', KEYS[2], ARGV[1]) end
if changed == 1 then
  local weight = tonumber(ARGV[3])
  if ARGV[2] ~= 'like' then weight = -weight end
  redis.call('ZINCRBY', KEYS[3], weight, ARGV[5])
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
local total = 0
for i = 5, #KEYS do total = total + redis.call('SCARD', KEYS[i]) end
return total
