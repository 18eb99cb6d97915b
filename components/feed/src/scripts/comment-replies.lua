if redis.call('EXISTS', KEYS[3]) == 0 then return 'rebuild' end
if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('EXISTS', KEYS[2]) == 0 then return 'rebuild' end
  return {'missing'}
end
local parent = redis.call('GET', KEYS[4])
if not parent then return {'no-comment'} end
local min = '-inf'
if ARGV[1] ~= '' then min = '(' .. ARGV[1] end
local ids = redis.call('ZRANGEBYSCORE', KEYS[5], min, '+inf', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {'ok', parent, redis.call('ZCARD', KEYS[5]), #ids, ids[#ids] or '0'}
for _, id in ipairs(ids) do
  out[#out + 1] = redis.call('GET', 'cm:rec:' .. id) or ''
  out[#out + 1] = redis.call('SCARD', 'cm:likes:' .. id)
  if ARGV[3] == '' then out[#out + 1] = 0 else out[#out + 1] = redis.call('SISMEMBER', 'cm:likes:' .. id, ARGV[3]) end
end
return out
