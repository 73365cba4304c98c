// The Lua script that writes KV blocks and keeps the memory budget (Redis >= 5), run atomically
// in one round trip. Block keys are passed in prefix order; the block keys of evicted blocks come
// from the LRU set, so the script assumes one Redis server (not Redis Cluster).
//
// Accounting (keys.ts): kv-lru scores each tracked block key by last use, kv-sizes holds its size,
// kv-bytes their sum. Scores are `nowMs - min(depth, 999) / 1000`: blocks used at the same moment
// are evicted deepest first, so what survives of a conversation is still a usable prefix.
//
//   KEYS  = [kv-lru, kv-sizes, kv-bytes, block_1 .. block_n]
//   ARGV  = [nowMs, ttlMs, budgetBytes (0: none), nRefresh, depthOfBlock_1,
//            payload of block_(nRefresh+1) .. payload of block_n]
//   block_1 .. block_nRefresh are only refreshed (TTL and LRU score) if present; the others are
//   written with SET NX PX (refreshed instead if already there).
//   Then entries unused for longer than the TTL are dropped from the accounting (at most 256 per
//   call), and while kv-bytes exceeds the budget the least recently used blocks are deleted.
//   Returns [written, refreshed, evicted].
export const PERSIST_BLOCKS_LUA = `
local lru, sizes, total = KEYS[1], KEYS[2], KEYS[3]
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
local nRefresh = tonumber(ARGV[4])
local depth0 = tonumber(ARGV[5])
local written, refreshed, evicted = 0, 0, 0

local function track(key, score, size)
  redis.call('ZADD', lru, score, key)
  local old = tonumber(redis.call('HGET', sizes, key) or 0)
  if old ~= size then
    redis.call('HSET', sizes, key, size)
    redis.call('INCRBY', total, size - old)
  end
end

local function forget(key)
  local size = tonumber(redis.call('HGET', sizes, key) or 0)
  redis.call('HDEL', sizes, key)
  redis.call('ZREM', lru, key)
  redis.call('DECRBY', total, size)
  redis.call('DEL', key)
  return size
end

for j = 1, #KEYS - 3 do
  local key = KEYS[j + 3]
  local score = now - math.min(depth0 + j - 1, 999) / 1000
  local payload = nil
  if j > nRefresh then payload = ARGV[5 + j - nRefresh] end
  if payload and redis.call('SET', key, payload, 'PX', ttl, 'NX') then
    track(key, score, string.len(payload))
    written = written + 1
  elseif redis.call('PEXPIRE', key, ttl) == 1 then
    track(key, score, redis.call('STRLEN', key))
    refreshed = refreshed + 1
  end
end

local stale = redis.call('ZRANGEBYSCORE', lru, '-inf', now - ttl - 1, 'LIMIT', 0, 256)
for _, key in ipairs(stale) do forget(key) end

if budget > 0 then
  local bytes = tonumber(redis.call('GET', total) or 0)
  while bytes > budget do
    local oldest = redis.call('ZRANGE', lru, 0, 0)
    if #oldest == 0 then
      redis.call('SET', total, 0)
      break
    end
    bytes = bytes - forget(oldest[1])
    evicted = evicted + 1
  end
end

return {written, refreshed, evicted}
`;

/** The score a block gets when used at `nowMs` at `depth` blocks into its prefix (as above). */
export function lruScore(nowMs: number, depth: number): number {
  return nowMs - Math.min(depth, 999) / 1000;
}
