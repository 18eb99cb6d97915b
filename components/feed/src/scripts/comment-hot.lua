-- The hot score of comment `id` with `likes` and `replies` (feed::store::hot_score), as a
-- sorted-set score: the time term, fixed when it was posted, plus the engagement.
local function hot(id, likes, replies)
  local time = math.floor(math.floor(tonumber(id) / 4096) / 45)
  return string.format('%d', time + math.floor(1e6 * math.log10(1 + likes + 2 * replies) + 0.5))
end
