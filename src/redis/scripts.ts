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
/**
 * One GCRA limit, the common case: the general script's decision without its
 * tables and with the fewest arguments (the decision a one-at-a-time caller
 * waits for, so every microsecond in it is latency).
 * ARGV: limit, interval, burst, then one cost per request. KEYS: one per request.
 * Returns, per request, { allowed (0|1), wait ms, remaining, reset ms }, whole
 * ms rounded up, flattened.
 */
export const GCRA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local limit, burst = tonumber(ARGV[1]), tonumber(ARGV[3])
local T = tonumber(ARGV[2]) / limit
local EPS = 1e-6
local out = {}
for r = 1, #KEYS do
  local key = KEYS[r]
  local cost = tonumber(ARGV[3 + r])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local w = tat + cost * T - burst * T - now
  local allowed = 0
  if w <= EPS then
    allowed = 1
    w = 0
    tat = tat + cost * T
    redis.call('SET', key, string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now)))
  end
  local remaining, reset = math.floor((burst * T - (tat - now)) / T + EPS), math.ceil(tat - now)
  if #KEYS == 1 then return { allowed, math.ceil(w), remaining, reset } end
  local o = #out
  out[o + 1], out[o + 2], out[o + 3], out[o + 4] = allowed, math.ceil(w), remaining, reset
end
return out
`;

export const RATE_SCRIPT = `
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

/*
 * The semaphore's scripts share one prelude. Keys (one hash tag):
 * H holders (id -> lease expiry), Q queue (id -> ticket), O owners (process
 * id -> presence expiry), G grants (id -> fencing token), T ticket counter,
 * F fence (the last token), C configuration (the permits).
 * A waiter's id is `<owner>.<n>`: the owner is the process-side semaphore that
 * queued it, and its wake channel is `<wake prefix><owner>`.
 *
 * A permit that frees (release, leave, expiry) goes straight to the head of
 * the queue in the same script (`handoff`): the head becomes a holder for
 * `claim` ms and its owner alone is told, by one PUBLISH. The owner confirms
 * with a renewal. So a release costs O(1) wherever the waiters are, and no
 * process asks again for waiters that cannot be served.
 */
const SEM_PRELUDE = `
if redis.replicate_commands then redis.replicate_commands() end
local H, Q, O, G, T, F, C = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local permits, claim, keyTtl, wake = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]

-- Strictly increasing, also across a restart that lost every key: never below
-- the server's clock in microseconds (a script takes longer than a microsecond,
-- so the counter cannot run ahead of the clock).
local function nextToken()
  local last = tonumber(redis.call('GET', F) or '0')
  local token = math.max(last + 1, tonumber(t[1]) * 1000000 + tonumber(t[2]))
  local text = string.format('%.0f', token)
  redis.call('SET', F, text)
  return text
end

local function touch()
  for _, k in ipairs({ H, Q, O, G, T, C }) do redis.call('PEXPIRE', k, keyTtl) end
end

local function configure()
  local conf = redis.call('GET', C)
  if conf and conf ~= ARGV[1] then
    return 'ERR sluice: Redis semaphore ' .. C .. ' has ' .. conf .. ' permits in another process, this one was created with ' .. ARGV[1] .. ' (one name, one configuration)'
  end
  if not conf then redis.call('SET', C, ARGV[1], 'PX', keyTtl) end
  return nil
end

-- Holders whose lease ran out are gone.
local function expire()
  local gone = redis.call('ZRANGEBYSCORE', H, '-inf', now, 'LIMIT', 0, 1000)
  if #gone > 0 then
    redis.call('ZREM', H, unpack(gone))
    redis.call('HDEL', G, unpack(gone))
  end
end

-- Free permits go to the head of the queue, skipping waiters whose process
-- stopped refreshing its presence. Bounded work per call.
local function handoff()
  local free = permits - redis.call('ZCARD', H)
  local scanned = 0
  while free > 0 and scanned < 200 do
    local heads = redis.call('ZRANGE', Q, 0, free - 1)
    if #heads == 0 then break end
    redis.call('ZREM', Q, unpack(heads))
    for _, head in ipairs(heads) do
      scanned = scanned + 1
      local owner = string.match(head, '^(.*)%.')
      local alive = owner and redis.call('ZSCORE', O, owner)
      if alive and tonumber(alive) > now then
        local token = nextToken()
        redis.call('ZADD', H, now + claim, head)
        redis.call('HSET', G, head, token)
        redis.call('PUBLISH', wake .. owner, head .. ' ' .. token)
        free = free - 1
      end
    end
  end
end

-- ms until the earliest lease runs out (when a waiting process should look again).
local function hint()
  local first = redis.call('ZRANGE', H, 0, 0, 'WITHSCORES')
  if first[2] then return math.max(1, tonumber(first[2]) - now) end
  return claim
end
`;

/**
 * Semaphore acquire. ARGV: permits, claim ms, key ttl ms, wake prefix, id,
 * owner, lease ms, presence ttl ms, mode (wait | try).
 * Returns { 1, token } or { 0, ms until the first lease runs out }.
 */
export const SEM_ACQUIRE = `${SEM_PRELUDE}
local bad = configure()
if bad then return redis.error_reply(bad) end
local id, owner, lease, presence, mode = ARGV[5], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
if mode == 'wait' then redis.call('ZADD', O, now + presence, owner) end
expire()
handoff()
-- Granted already (a hand-off whose message was lost, or an earlier ask's reply)?
local granted = redis.call('HGET', G, id)
if granted and redis.call('ZSCORE', H, id) then return { 1, granted } end
if redis.call('ZSCORE', Q, id) then return { 0, hint() } end
if redis.call('ZCARD', H) < permits and redis.call('ZCARD', Q) == 0 then
  local token = nextToken()
  redis.call('ZADD', H, now + lease, id)
  redis.call('HSET', G, id, token)
  touch()
  return { 1, token }
end
if mode == 'wait' then
  redis.call('ZADD', Q, redis.call('INCR', T), id)
  touch()
end
return { 0, hint() }
`;

/**
 * A process's waiters keep their places, and a hand-off whose message was
 * lost is found. ARGV: permits, claim, key ttl, wake prefix, owner, presence
 * ttl ms, then the ids of its waiters. Returns { ms until the first lease runs
 * out, id, token, id, token, ... } for those ids that hold a permit, and
 * { id, 0 } for those that lost their place (skipped while their process was
 * silent for longer than the presence ttl, or a hand-off that ran out).
 */
export const SEM_PRESENCE = `${SEM_PRELUDE}
redis.call('ZADD', O, now + tonumber(ARGV[6]), ARGV[5])
expire()
handoff()
local out = { 0 }
for i = 7, #ARGV do
  local token = redis.call('HGET', G, ARGV[i])
  if token and redis.call('ZSCORE', H, ARGV[i]) then
    out[#out + 1] = ARGV[i]
    out[#out + 1] = token
  elseif not redis.call('ZSCORE', Q, ARGV[i]) then
    out[#out + 1] = ARGV[i]
    out[#out + 1] = 0
  end
end
out[1] = hint()
touch()
return out
`;

/**
 * Release a lease or leave the queue (whichever the id has: a waiter that
 * left while a permit was being handed to it gives the permit back here).
 * ARGV: permits, claim, key ttl, wake prefix, id. Returns 1 if it held a permit.
 */
export const SEM_LEAVE = `${SEM_PRELUDE}
local id = ARGV[5]
local held = redis.call('ZREM', H, id)
redis.call('HDEL', G, id)
redis.call('ZREM', Q, id)
expire()
handoff()
return held
`;

/** KEYS: holders, grants. ARGV: id, lease ms, key ttl ms. Returns 1 if renewed, 0 if the lease was lost. */
export const SEM_RENEW = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
return 1
`;

/** KEYS: holders. Leases not yet run out, on the server's clock. */
export const SEM_HOLDERS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
`;
