if redis.call('EXISTS', KEYS[3]) == 0 then return 'rebuild' end
local video = redis.call('GET', KEYS[1])
if not video then
  if redis.call('EXISTS', KEYS[2]) == 0 then return 'rebuild' end
  return {'missing-video'}
end
local found = redis.call('GET', KEYS[4])
if not found then return {'missing'} end
local record = cjson.decode(found)
if string.format('%d', record.video) ~= ARGV[2] then return {'missing'} end
if record.author ~= ARGV[1] and cjson.decode(video).author ~= ARGV[1] then return {'forbidden'} end
redis.call('DEL', KEYS[4], KEYS[8])
if type(record.root) ~= 'number' then
  local replies = redis.call('ZRANGE', KEYS[9], 0, -1)
  for _, reply in ipairs(replies) do redis.call('DEL', 'cm:rec:' .. reply, 'cm:likes:' .. reply) end
  redis.call('DEL', KEYS[9])
  redis.call('ZREM', KEYS[5], ARGV[3])
  redis.call('ZREM', KEYS[6], ARGV[3])
  redis.call('DECRBY', KEYS[7], 1 + #replies)
  table.insert(replies, 1, 'ok')
  return replies
end
local root = string.format('%d', record.root)
local siblings = 'cm:replies:' .. root
redis.call('ZREM', siblings, ARGV[3])
redis.call('DECR', KEYS[7])
redis.call('ZADD', KEYS[6], 'XX', hot(root, redis.call('SCARD', 'cm:likes:' .. root), redis.call('ZCARD', siblings)), root)
return {'ok'}
