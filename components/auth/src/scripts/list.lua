local out = {}
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local f = redis.call('HMGET', 'auth:session:' .. sid, 'uid', 'name', 'ua', 'created', 'used', 'revoked')
  if not f[1] or f[6] == '1' then
    redis.call('SREM', KEYS[1], sid)
  else
    for _, v in ipairs({sid, f[2] or '', f[3] or '', f[4], f[5]}) do table.insert(out, v) end
  end
end
return out
