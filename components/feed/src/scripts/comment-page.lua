if redis.call('EXISTS', KEYS[3]) == 0 then return 'rebuild' end
if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('EXISTS', KEYS[2]) == 0 then return 'rebuild' end
  return {'missing'}
end
-- Whether member a comes after member b in a descending page among equal scores: Redis orders
-- ties by their bytes.
local function below(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local limit, caller, shown = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local max, bound = '+inf', nil
if ARGV[1] ~= '' then max, bound = ARGV[1], tonumber(ARGV[1]) end
local picked, offset = {}, 0
repeat
  local batch = redis.call('ZREVRANGEBYSCORE', KEYS[4], max, '-inf', 'WITHSCORES', 'LIMIT', offset, limit)
  for i = 1, #batch, 2 do
    if #picked < limit and (not bound or tonumber(batch[i + 1]) < bound or below(batch[i], ARGV[2])) then
      picked[#picked + 1] = {batch[i], batch[i + 1]}
    end
  end
  offset = offset + limit
until #picked >= limit or #batch < 2 * limit
local function liked(id)
  if caller == '' then return 0 end
  return redis.call('SISMEMBER', 'cm:likes:' .. id, caller)
end
local out = {'ok', tonumber(redis.call('GET', KEYS[5]) or '0'), #picked, '0', '0'}
if #picked > 0 then
  out[4] = string.format('%d', tonumber(picked[#picked][2]))
  out[5] = picked[#picked][1]
end
for _, item in ipairs(picked) do
  local id = item[1]
  local replies = 'cm:replies:' .. id
  local first = redis.call('ZRANGE', replies, 0, shown - 1)
  out[#out + 1] = redis.call('GET', 'cm:rec:' .. id) or ''
  out[#out + 1] = redis.call('SCARD', 'cm:likes:' .. id)
  out[#out + 1] = liked(id)
  out[#out + 1] = redis.call('ZCARD', replies)
  out[#out + 1] = #first
  for _, reply in ipairs(first) do
    out[#out + 1] = redis.call('GET', 'cm:rec:' .. reply) or ''
    out[#out + 1] = redis.call('SCARD', 'cm:likes:' .. reply)
    out[#out + 1] = liked(reply)
  end
end
return out
