local f = redis.call('HMGET', KEYS[1], 'uid', 'dev', 'gen', 'rot', 'used', 'created', 'revoked')
if not f[1] then return {'unknown', '', 0} end
local uid, dev, gen, rot, used, created = f[1], f[2], tonumber(f[3]), tonumber(f[4]), tonumber(f[5]), tonumber(f[6])
local pgen, now = tonumber(ARGV[1]), tonumber(ARGV[3])
if f[7] == '1' then return {'revoked', uid, gen} end
if ARGV[2] ~= dev then return {'device', uid, gen} end
if now - used > tonumber(ARGV[5]) or now - created > tonumber(ARGV[6]) then return {'expired', uid, gen} end
if pgen == gen then
  redis.call('HSET', KEYS[1], 'gen', gen + 1, 'rot', now, 'used', now)
  return {'rotated', uid, gen + 1, redis.call('GET', KEYS[3]) or '0', redis.call('GET', KEYS[4]) or ''}
end
if pgen == gen - 1 and now - rot <= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'used', now)
  return {'grace', uid, gen, redis.call('GET', KEYS[3]) or '0', redis.call('GET', KEYS[4]) or ''}
end
if pgen < gen then
  redis.call('HSET', KEYS[1], 'revoked', '1')
  redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[7]))
  return {'reuse', uid, gen}
end
return {'unknown', uid, gen}
