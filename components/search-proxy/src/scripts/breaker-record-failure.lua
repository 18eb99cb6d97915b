local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if n >= tonumber(ARGV[2]) or ARGV[5] == 'probe' then
  redis.call('SET', KEYS[2], tonumber(ARGV[1]) + tonumber(ARGV[3]))
  redis.call('DEL', KEYS[1], KEYS[3])
  return 1
end
return 0
