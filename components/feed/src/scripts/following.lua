if redis.call('EXISTS', KEYS[1]) == 0 then return 'rebuild' end
-- A k-way merge over the followed authors' timelines (scores are the video ids): one read per
-- author for its newest video under the bound, then one per video taken, so a page costs
-- authors + page size reads of one entry, not authors x page size entries.
local limit = tonumber(ARGV[2])
local heap = {}
local function push(id, key)
  local n = #heap + 1
  heap[n] = {id, key}
  while n > 1 do
    local parent = math.floor(n / 2)
    if heap[parent][1] >= heap[n][1] then break end
    heap[parent], heap[n] = heap[n], heap[parent]
    n = parent
  end
end
local function pop()
  local top = heap[1]
  heap[1] = heap[#heap]
  heap[#heap] = nil
  local n = 1
  while true do
    local left, right, largest = 2 * n, 2 * n + 1, n
    if heap[left] and heap[left][1] > heap[largest][1] then largest = left end
    if heap[right] and heap[right][1] > heap[largest][1] then largest = right end
    if largest == n then break end
    heap[largest], heap[n] = heap[n], heap[largest]
    n = largest
  end
  return top
end
local function newest(key, bound)
  local top = redis.call('ZREVRANGEBYSCORE', key, bound, '-inf', 'LIMIT', 0, 1)[1]
  if top then push(tonumber(top), key) end
end
for i = 2, #KEYS do newest(KEYS[i], ARGV[1]) end
local out = {}
while #out < limit and #heap > 0 do
  local taken = pop()
  local id = string.format('%d', taken[1])
  out[#out + 1] = id
  newest(taken[2], '(' .. id)
end
return out
