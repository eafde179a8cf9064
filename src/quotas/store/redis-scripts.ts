import { createHash } from 'node:crypto';

/**
 * The Lua scripts behind RedisLimitStore, one per operation; each mirrors MemoryLimitStore. Money
 * reaches Redis only as decimal strings and changes only through HINCRBY, because Lua 5.1 turns
 * numbers into text with 14 significant digits, too few for nano-USD.
 */
export interface Script {
  lua: string;
  sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** Shared by acquire and release: a bucket's level refilled to `now`. An absent bucket is full. */
const refill = `
local function refill(key, capacity, period, now)
  local state = redis.call('HMGET', key, 'level', 'at')
  if not state[1] then return capacity, now end
  local stored, storedAt = tonumber(state[1]), tonumber(state[2])
  local at = math.max(storedAt, now)
  return math.min(capacity, stored + (at - storedAt) * capacity / period), at
end

local function store(key, capacity, period, level, at)
  if level >= capacity then
    redis.call('DEL', key)
  else
    redis.call('HSET', key, 'level', level, 'at', at)
    redis.call('PEXPIRE', key, math.max(1, math.ceil((capacity - level) * period / capacity)))
  end
end
`;

/**
 * KEYS: buckets, then lease pools. ARGV: now, bucket count, (capacity, periodMs, cost) per bucket,
 * (limit, leaseId, ttlMs) per pool. Returns admitted (1/0), each level before (as text: a float),
 * each pool's live leases before.
 */
export const acquire = script(`${refill}
local now, nb = tonumber(ARGV[1]), tonumber(ARGV[2])
local np = #KEYS - nb
local admitted = 1
local levels, stamps, inUse = {}, {}, {}
for i = 1, nb do
  local a = 2 + (i - 1) * 3
  levels[i], stamps[i] = refill(KEYS[i], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), now)
  if levels[i] < tonumber(ARGV[a + 3]) then admitted = 0 end
end
for j = 1, np do
  local key, a = KEYS[nb + j], 2 + nb * 3 + (j - 1) * 3
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  inUse[j] = redis.call('ZCARD', key)
  if inUse[j] >= tonumber(ARGV[a + 1]) then admitted = 0 end
end
if admitted == 1 then
  for i = 1, nb do
    local a = 2 + (i - 1) * 3
    local capacity, period = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    store(KEYS[i], capacity, period, levels[i] - tonumber(ARGV[a + 3]), stamps[i])
  end
  for j = 1, np do
    local key, a = KEYS[nb + j], 2 + nb * 3 + (j - 1) * 3
    local ttl = tonumber(ARGV[a + 3])
    redis.call('ZADD', key, now + ttl, ARGV[a + 2])
    if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
  end
end
local reply = { admitted }
for i = 1, nb do reply[#reply + 1] = tostring(levels[i]) end
for j = 1, np do reply[#reply + 1] = inUse[j] end
return reply
`);

/**
 * KEYS: buckets, then lease pools. ARGV: now, bucket count, (capacity, periodMs, amount) per bucket,
 * leaseId per pool.
 */
export const release = script(`${refill}
local now, nb = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, nb do
  local a = 2 + (i - 1) * 3
  local capacity, period = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local level, at = refill(KEYS[i], capacity, period, now)
  store(KEYS[i], capacity, period, math.min(capacity, level + tonumber(ARGV[a + 3])), at)
end
for j = 1, #KEYS - nb do
  redis.call('ZREM', KEYS[nb + j], ARGV[2 + nb * 3 + j])
end
return 1
`);

/**
 * KEYS: spend counters (hashes: spent, reserved, reported:soft, reported:hard). ARGV: amount, then
 * (ttlMs, soft, hard, seed) per counter, '' where absent. Returns {'reserved'},
 * {'refused', index, spent, reserved} or {'unseeded', index...}; indexes from 0.
 */
export const reserveSpend = script(`
local amount = tonumber(ARGV[1])
local unseeded = {}
for i = 1, #KEYS do
  local a = 1 + (i - 1) * 4
  local seed = ARGV[a + 4]
  if redis.call('HEXISTS', KEYS[i], 'spent') == 0 then
    if seed == '' then
      unseeded[#unseeded + 1] = i - 1
    else
      redis.call('HSET', KEYS[i], 'spent', seed, 'reserved', '0')
      for k, name in ipairs({ 'soft', 'hard' }) do
        local limit = ARGV[a + 1 + k]
        if limit ~= '' and tonumber(seed) >= tonumber(limit) then
          redis.call('HSET', KEYS[i], 'reported:' .. name, '1')
        end
      end
      redis.call('PEXPIRE', KEYS[i], ARGV[a + 1])
    end
  end
end
if #unseeded > 0 then return { 'unseeded', unpack(unseeded) } end
for i = 1, #KEYS do
  local hard = ARGV[1 + (i - 1) * 4 + 3]
  if hard ~= '' then
    local spent = tonumber(redis.call('HGET', KEYS[i], 'spent'))
    local reserved = tonumber(redis.call('HGET', KEYS[i], 'reserved')) or 0
    if spent + reserved + amount > tonumber(hard) then
      return { 'refused', i - 1, spent, reserved }
    end
  end
end
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'reserved', ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[1 + (i - 1) * 4 + 1])
end
return { 'reserved' }
`);

/**
 * KEYS: spend counters. ARGV: minus the reserved amount, actual, then (soft, hard) per counter.
 * Returns (index, threshold, spent) for each threshold reached first by this call, flattened.
 */
export const settleSpend = script(`
local reached = {}
for i = 1, #KEYS do
  if redis.call('HEXISTS', KEYS[i], 'spent') == 1 then
    local spent = redis.call('HINCRBY', KEYS[i], 'spent', ARGV[2])
    if redis.call('HINCRBY', KEYS[i], 'reserved', ARGV[1]) < 0 then
      redis.call('HSET', KEYS[i], 'reserved', '0')
    end
    for k, name in ipairs({ 'soft', 'hard' }) do
      local limit = ARGV[2 + (i - 1) * 2 + k]
      if limit ~= '' and spent >= tonumber(limit)
        and redis.call('HSETNX', KEYS[i], 'reported:' .. name, '1') == 1 then
        reached[#reached + 1] = i - 1
        reached[#reached + 1] = name
        reached[#reached + 1] = spent
      end
    end
  end
end
return reached
`);
