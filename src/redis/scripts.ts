// The Lua scripts. Each decision is made inside one script call: atomic, on the
// server's clock (TIME), with keys that expire once they hold nothing worth keeping.
// Times are ms as floats; they are stored with three decimals (1 us), since
// Lua's tostring keeps only 14 significant digits.

/**
 * Rate limits, all-or-nothing across limits, for a batch of requests decided
 * one after the other in one atomic call (concurrent calls of one limiter
 * share a round trip and a script invocation).
 * ARGV: n (limits), m (requests), then per limit: algorithm (g | t | s | f), limit,
 * interval, burst; then per request: cost, id.
 * KEYS: per request r and limit i, KEYS[(r-1)*2n + 2i-1] (state) and
 * KEYS[(r-1)*2n + 2i] (sliding window: the weight in the window).
 * Returns, per request, { allowed (0|1), wait ms, remaining, limit and reset ms
 * of the tightest limit }, flattened.
 */
export const RATE_SCRIPT = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2])
local EPS = 1e-6
local limits = {}
for i = 1, n do
  local base = 2 + (i - 1) * 4
  limits[i] = { algo = ARGV[base + 1], limit = tonumber(ARGV[base + 2]), interval = tonumber(ARGV[base + 3]),
    burst = tonumber(ARGV[base + 4]) }
end

local function decide(kbase, cost, id)
  local wait = 0
  local plan = {}
  for i = 1, n do
    local l = limits[i]
    local p = { key = KEYS[kbase + 2 * i - 1], aux = KEYS[kbase + 2 * i] }
    local w = 0
    if l.algo == 'g' then
      p.T = l.interval / l.limit
      local tat = tonumber(redis.call('GET', p.key) or '0')
      if tat < now then tat = now end
      p.tat = tat
      w = tat + cost * p.T - l.burst * p.T - now
    elseif l.algo == 't' then
      p.rate = l.limit / l.interval
      local v = redis.call('HMGET', p.key, 'tokens', 'at')
      local tokens = tonumber(v[1] or l.burst)
      local at = tonumber(v[2] or now)
      if now > at then tokens = math.min(l.burst, tokens + (now - at) * p.rate) end
      p.tokens = tokens
      w = (cost - tokens) / p.rate
    elseif l.algo == 'f' then
      -- The weight used in the current window, expiring when the window ends.
      local used = tonumber(redis.call('GET', p.key) or '0')
      local ttl = 0
      if used > 0 then
        ttl = redis.call('PTTL', p.key)
        if ttl < 0 then
          ttl = 0
          used = 0
        end
      end
      p.used = used
      p.ttl = ttl
      if used + cost > l.limit then w = ttl end
    else
      local horizon = now - l.interval
      local old = redis.call('ZRANGEBYSCORE', p.key, '-inf', horizon)
      local used = tonumber(redis.call('GET', p.aux) or '0')
      if #old > 0 then
        for _, member in ipairs(old) do used = used - tonumber(string.match(member, '^(%d+):')) end
        redis.call('ZREMRANGEBYSCORE', p.key, '-inf', horizon)
        if used <= 0 then
          used = 0
          redis.call('DEL', p.aux)
        else
          redis.call('SET', p.aux, used, 'KEEPTTL')
        end
      end
      p.used = used
      local excess = used + cost - l.limit
      if excess > 0 then
        w = math.huge
        local entries = redis.call('ZRANGE', p.key, 0, -1, 'WITHSCORES')
        for j = 1, #entries, 2 do
          excess = excess - tonumber(string.match(entries[j], '^(%d+):'))
          if excess <= 0 then
            w = tonumber(entries[j + 1]) + l.interval - now
            break
          end
        end
      end
    end
    if w > EPS and w > wait then wait = w end
    plan[i] = p
  end
  local allowed = 0
  if wait == 0 then allowed = 1 end
  local remaining = math.huge
  local limitOf = 0
  local reset = 0
  for i = 1, n do
    local l = limits[i]
    local p = plan[i]
    local left
    local full
    if l.algo == 'g' then
      local tat = p.tat
      if allowed == 1 then
        tat = tat + cost * p.T
        redis.call('SET', p.key, string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now)))
      end
      left = math.floor((l.burst * p.T - (tat - now)) / p.T + EPS)
      full = tat - now
    elseif l.algo == 't' then
      local tokens = p.tokens
      if allowed == 1 then
        tokens = tokens - cost
        redis.call('HSET', p.key, 'tokens', string.format('%.6f', tokens), 'at', string.format('%.3f', now))
        redis.call('PEXPIRE', p.key, math.max(1, math.ceil((l.burst - tokens) / p.rate)))
      end
      left = math.floor(tokens + EPS)
      full = (l.burst - tokens) / p.rate
    elseif l.algo == 'f' then
      local used = p.used
      full = p.ttl
      if allowed == 1 then
        if used == 0 then
          redis.call('SET', p.key, cost, 'PX', math.max(1, math.ceil(l.interval)))
          full = l.interval
        else
          redis.call('INCRBY', p.key, cost)
        end
        used = used + cost
      end
      left = l.limit - used
    else
      local used = p.used
      if allowed == 1 then
        used = used + cost
        redis.call('ZADD', p.key, string.format('%.3f', now), cost .. ':' .. id)
        redis.call('SET', p.aux, used, 'PX', math.ceil(l.interval) + 1)
        redis.call('PEXPIRE', p.key, math.ceil(l.interval) + 1)
      end
      left = l.limit - used
      local newest = redis.call('ZRANGE', p.key, -1, -1, 'WITHSCORES')
      full = 0
      if newest[2] then full = tonumber(newest[2]) + l.interval - now end
    end
    if left < remaining then
      remaining = left
      limitOf = l.limit
      reset = full
    end
  end
  return allowed, string.format('%.3f', wait), remaining, limitOf, string.format('%.3f', reset)
end

local out = {}
local first = 2 + 4 * n
for r = 1, m do
  local allowed, wait, remaining, limitOf, reset =
    decide((r - 1) * 2 * n, tonumber(ARGV[first + 2 * r - 1]), ARGV[first + 2 * r])
  out[#out + 1] = allowed
  out[#out + 1] = wait
  out[#out + 1] = remaining
  out[#out + 1] = limitOf
  out[#out + 1] = reset
end
return out
`;

/**
 * Semaphore acquire. KEYS: holders (id -> lease expiry), queue (id -> ticket),
 * waits (id -> presence expiry), ticket counter, fence counter.
 * ARGV: id, permits, lease ms, wait ttl ms, mode (wait | try), key ttl ms.
 * Returns { 1, fencing token } or { 0, rank, ms until the first lease expires }.
 */
export const SEM_ACQUIRE = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = ARGV[1]
local permits = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local waitTtl = tonumber(ARGV[4])
local keyTtl = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, w in ipairs(gone) do redis.call('ZREM', KEYS[2], w) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now) end
local held = redis.call('ZCARD', KEYS[1])
local rank = redis.call('ZRANK', KEYS[2], id)
local grant = false
if rank then
  grant = rank < permits - held
elseif held < permits and redis.call('ZCARD', KEYS[2]) == 0 then
  grant = true
elseif ARGV[5] == 'wait' then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), id)
  rank = redis.call('ZRANK', KEYS[2], id)
  grant = rank < permits - held
end
if grant then
  if rank then
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
  end
  redis.call('ZADD', KEYS[1], now + lease, id)
  local token = redis.call('INCR', KEYS[5])
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], keyTtl) end
  return { 1, token }
end
if rank then
  redis.call('ZADD', KEYS[3], now + waitTtl, id)
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], keyTtl) end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local hint = lease
if first[2] then hint = tonumber(first[2]) - now end
return { 0, rank or -1, hint }
`;

/** KEYS: holders, queue. ARGV: id, wake channel. Returns 1 if the lease was still held. */
export const SEM_RELEASE = `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[2], '1') end
return removed
`;

/** KEYS: holders. ARGV: id, lease ms, key ttl ms. Returns 1 if renewed, 0 if the lease was lost. */
export const SEM_RENEW = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`;

/** KEYS: queue, waits. ARGV: id, wake channel. Leaves the queue; wakes the others. */
export const SEM_CANCEL = `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 1 then redis.call('PUBLISH', ARGV[2], '1') end
return removed
`;
