if redis.call('EXISTS', KEYS[1]) == 1 then return 'built' end
if redis.call('EXISTS', KEYS[3]) == 0 and redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('SET', KEYS[1], '1')
  return 'built'
end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'busy' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'listed' end
return 'list'
