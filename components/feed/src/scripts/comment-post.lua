if redis.call('EXISTS', KEYS[3]) == 0 then return 'rebuild' end
if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('EXISTS', KEYS[2]) == 0 then return 'rebuild' end
  return {-1}
end
local root, parent = 'null', 'null'
if ARGV[4] ~= '' then
  local found = redis.call('GET', 'cm:rec:' .. ARGV[4])
  if not found then return {-2} end
  local record = cjson.decode(found)
  if string.format('%d', record.video) ~= ARGV[3] then return {-2} end
  parent, root = ARGV[4], ARGV[4]
  if type(record.root) == 'number' then root = string.format('%d', record.root) end
end
if not redis.call('SET', KEYS[5], '1', 'NX', 'EX', tonumber(ARGV[2])) then return {0} end
local t = redis.call('TIME')
local id = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])) * 4096
local last = tonumber(redis.call('GET', KEYS[4]) or '0')
if id <= last then id = last + 1 end
local sid = string.format('%d', id)
redis.call('SET', KEYS[4], sid)
redis.call('SET', 'cm:rec:' .. sid, '{"id":' .. sid .. ',"video":' .. ARGV[3] .. ',"root":' .. root .. ',"reply_to":' .. parent .. ARGV[5])
redis.call('INCR', KEYS[8])
if root == 'null' then
  redis.call('ZADD', KEYS[6], sid, sid)
  redis.call('ZADD', KEYS[7], hot(sid, 0, 0), sid)
  return {sid, ''}
end
local replies = 'cm:replies:' .. root
redis.call('ZADD', replies, sid, sid)
redis.call('ZADD', KEYS[7], 'XX', hot(root, redis.call('SCARD', 'cm:likes:' .. root), redis.call('ZCARD', replies)), root)
return {sid, root}
