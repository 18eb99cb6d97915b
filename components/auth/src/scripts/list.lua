local out = {}
for i, sid in ipairs(ARGV) do
  local f = redis.call('HMGET', KEYS[i + 1], 'uid', 'name', 'ua', 'created', 'used', 'revoked')
  if not f[1] or f[6] == '1' then
    redis.call('SREM', KEYS[1], sid)
  else
    for _, v in ipairs({sid, f[2] or '', f[3] or '', f[4], f[5]}) do table.insert(out, v) end
  end
end
return out
