redis.call('HSET', KEYS[1], 'uid', ARGV[1], 'dev', ARGV[2], 'key', ARGV[3], 'gen', 0,
  'rot', ARGV[4], 'used', ARGV[4], 'created', ARGV[4], 'name', ARGV[6], 'ua', ARGV[7])
redis.call('PEXPIREAT', KEYS[1], tonumber(ARGV[4]) + tonumber(ARGV[5]))
redis.call('SADD', KEYS[2], ARGV[8])
redis.call('SET', KEYS[4], ARGV[9], 'NX')
return {redis.call('GET', KEYS[3]) or '0', redis.call('GET', KEYS[4])}
