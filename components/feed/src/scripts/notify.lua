-- One actor's like, comment or reply reaches the author of the record it is on (KEYS[1]):
-- grouped per kind and target, counted once per distinct actor, never for one's own action.
-- The recipient's keys are derived from the record's author, which no caller knows beforehand.
local found = redis.call('GET', KEYS[1])
if not found then return 0 end
local recipient = cjson.decode(found).author
if type(recipient) ~= 'string' or recipient == ARGV[1] then return 0 end
local target = ARGV[4] ~= '' and ARGV[4] or ARGV[3]
local group = ARGV[2] .. ':' .. target
local base = 'ntf:' .. recipient
local gkey = base .. ':g:' .. group
if redis.call('SADD', gkey .. ':a', ARGV[1]) == 0 then return 0 end
-- Scores are unique per recipient so cursors never skip a group that shares a millisecond.
local at = tonumber(ARGV[5])
local top = redis.call('ZREVRANGE', base, 0, 0, 'WITHSCORES')
if top[2] and tonumber(top[2]) >= at then at = tonumber(top[2]) + 1 end
redis.call('HSET', gkey, 'kind', ARGV[2], 'video', ARGV[3], 'comment', ARGV[4])
redis.call('HINCRBY', gkey, 'count', 1)
redis.call('LPUSH', gkey .. ':r', ARGV[1])
redis.call('LTRIM', gkey .. ':r', 0, 2)
redis.call('ZADD', base, string.format('%d', at), group)
redis.call('ZREMRANGEBYRANK', base, 0, -tonumber(ARGV[6]) - 1)
for _, key in ipairs({ base, gkey, gkey .. ':a', gkey .. ':r' }) do redis.call('EXPIRE', key, ARGV[7]) end
return 1
