"""The Lua scripts behind admission: every limit of a call in one round trip.

Redis runs a script atomically, so a check and the count it guards can never
interleave with another replica's. Amounts of money are integers of nano-USD
(``gateway.limits.NANO``) passed as strings and added with ``INCRBY``/
``HINCRBY``, never through Lua's doubles, so counters stay exact.

Keys (``gateway.limits`` builds them):

- requests per minute: a sorted set per bucket, one member per request, scored
  by its time (µs) — a sliding-window log (unchanged from before budgets);
- tokens per minute: a sorted set per bucket whose members are
  ``<call>|<tokens>`` scored by time, and a counter of their sum;
- budgets: a hash per budget and period (``total``: the settled spend;
  ``base``: the database's sum up to the ``w`` minute; ``m:<minute>``: what was
  settled in each later minute, so a rebuild can replace the part the database
  knows for sure), a sorted set of open reservations ``<call>|<nanos>`` scored
  by when they expire, and a counter of their sum.
"""

from __future__ import annotations

# Drops a log's members scored up to ``upto`` (token entries past the window,
# reservations past their expiry) and keeps its sum in step: members are
# ``<call>|<amount>``.
_PURGE = """
local function amount(member)
  return string.sub(member, string.find(member, '|', 1, true) + 1)
end
local function purge(zkey, skey, upto)
  local old = redis.call('ZRANGEBYSCORE', zkey, '-inf', upto)
  for _, member in ipairs(old) do redis.call('DECRBY', skey, amount(member)) end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', zkey, '-inf', upto) end
end
"""

# KEYS: R request logs, T token logs, T token sums, B budget hashes, B
# reservation sets, B reservation sums (in that order).
# ARGV: R, T, B, window µs, call id, weight, tokens, nanos, reservation TTL µs,
# then R request caps, T token caps, B budget amounts (nano-USD).
# Returns {outcome, index, wait µs, requests limit, remaining, reset µs,
# tokens limit, remaining, reset µs, spent, reserved}; outcome 0 admitted,
# 1 requests full, 2 tokens full, 3 budget spent, 4 budget counter missing
# (rebuild it from the database, then ask again). Nothing is counted unless
# the outcome is 0.
ADMIT = (
    _PURGE
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local R, T, B = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local call = ARGV[5]
local weight = tonumber(ARGV[6])
local tokens = tonumber(ARGV[7])
local nanos = ARGV[8]
local ttl = tonumber(ARGV[9])
local caps = 9
local rq = {-1, -1, 0}
local tk = {-1, -1, 0}
for i = 1, R do
  local key, cap = KEYS[i], tonumber(ARGV[caps + i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  local excess = count + weight - cap
  if excess > 0 then
    if weight > cap then return {1, i, window, cap, 0, window, -1, -1, 0, 0, 0} end
    local oldest = redis.call('ZRANGE', key, excess - 1, excess - 1, 'WITHSCORES')
    local wait = tonumber(oldest[2]) + window - now + 1
    return {1, i, wait, cap, math.max(cap - count, 0), wait, -1, -1, 0, 0, 0}
  end
  local left = cap - count - weight
  if rq[1] < 0 or left < rq[2] then rq = {cap, left, window} end
end
for i = 1, T do
  local zkey, skey = KEYS[R + i], KEYS[R + T + i]
  local cap = tonumber(ARGV[caps + R + i])
  purge(zkey, skey, now - window)
  local used = tonumber(redis.call('GET', skey) or '0')
  if used + tokens > cap then
    local wait = window
    if tokens <= cap then
      -- Members leave oldest first: wait until enough of them have.
      local freed = 0
      local members = redis.call('ZRANGE', zkey, 0, -1, 'WITHSCORES')
      for j = 1, #members, 2 do
        local m = members[j]
        freed = freed + tonumber(amount(m))
        if used - freed + tokens <= cap then
          wait = tonumber(members[j + 1]) + window - now + 1
          break
        end
      end
    end
    return {2, i, wait, rq[1], rq[2], rq[3], cap, math.max(cap - used, 0), wait, 0, 0}
  end
  local left = cap - used - tokens
  if tk[1] < 0 or left < tk[2] then tk = {cap, left, window} end
end
local base = R + 2 * T
for i = 1, B do
  local hkey, zkey, skey = KEYS[base + i], KEYS[base + B + i], KEYS[base + 2 * B + i]
  local spent = redis.call('HGET', hkey, 'total')
  if not spent then return {4, i, 0, rq[1], rq[2], rq[3], tk[1], tk[2], tk[3], 0, 0} end
  local reserved = redis.call('GET', skey) or '0'
  local limit = tonumber(ARGV[caps + R + T + i])
  if tonumber(spent) + tonumber(reserved) + tonumber(nanos) > limit then
    -- Reservations of replicas that died count until they expire: only when
    -- they are what refuses the call is it worth dropping the expired ones.
    purge(zkey, skey, now)
    reserved = redis.call('GET', skey) or '0'
    if tonumber(spent) + tonumber(reserved) + tonumber(nanos) > limit then
      return {3, i, 0, rq[1], rq[2], rq[3], tk[1], tk[2], tk[3], spent, reserved}
    end
  end
end
for i = 1, R do
  local key = KEYS[i]
  local members = {}
  for j = 1, weight do
    members[#members + 1] = now
    members[#members + 1] = call .. ':' .. j
    if #members >= 1000 or j == weight then
      redis.call('ZADD', key, unpack(members))
      members = {}
    end
  end
  redis.call('PEXPIRE', key, math.ceil(window / 1000) + 1000)
end
for i = 1, T do
  local zkey, skey = KEYS[R + i], KEYS[R + T + i]
  redis.call('ZADD', zkey, now, call .. '|' .. ARGV[7])
  redis.call('INCRBY', skey, ARGV[7])
  redis.call('PEXPIRE', zkey, math.ceil(window / 1000) + 60000)
  redis.call('PEXPIRE', skey, math.ceil(window / 1000) + 60000)
end
for i = 1, B do
  local zkey, skey = KEYS[base + B + i], KEYS[base + 2 * B + i]
  -- No expiry on these two: one pair per budget, emptied as calls settle (a
  -- key that expired under load would drop the reservations in it).
  redis.call('ZADD', zkey, now + ttl, call .. '|' .. nanos)
  redis.call('INCRBY', skey, nanos)
end
return {0, 0, 0, rq[1], rq[2], rq[3], tk[1], tk[2], tk[3], 0, 0}
"""
)

# Settles a batch of calls (``gateway.limits`` sends what accumulated while
# the previous batch was on its way: one round trip for many calls under load).
# ARGV: the number of calls, then per call T, B, call id, reserved tokens, used
# tokens, token delta (used - reserved), reserved nanos, spent nanos, minute
# field. KEYS, per call in the same order: T token logs, T token sums, B budget
# hashes, B reservation sets, B reservation sums.
# Each reservation is replaced by what the call really used; a budget whose
# counter is gone (Redis lost it) is left to the rebuild, which counts the call
# from the database.
SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local k, a = 0, 1
for _ = 1, tonumber(ARGV[1]) do
  local T, B = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local call, held_tokens, used = ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local delta, held_nanos = ARGV[a + 6], ARGV[a + 7]
  local spent, minute = ARGV[a + 8], ARGV[a + 9]
  a = a + 9
  for i = 1, T do
    local zkey, skey = KEYS[k + i], KEYS[k + T + i]
    local held = call .. '|' .. held_tokens
    local score = redis.call('ZSCORE', zkey, held)
    if score then
      redis.call('ZREM', zkey, held)
      redis.call('ZADD', zkey, score, call .. '|' .. used)
      redis.call('INCRBY', skey, delta)
    elseif tonumber(used) > 0 then
      redis.call('ZADD', zkey, now, call .. '|' .. used)
      redis.call('INCRBY', skey, used)
    end
  end
  k = k + 2 * T
  for i = 1, B do
    local hkey, zkey, skey = KEYS[k + i], KEYS[k + B + i], KEYS[k + 2 * B + i]
    if redis.call('ZREM', zkey, call .. '|' .. held_nanos) == 1 then
      redis.call('DECRBY', skey, held_nanos)
    end
    if spent ~= '0' and redis.call('HEXISTS', hkey, 'total') == 1 then
      redis.call('HINCRBY', hkey, minute, spent)
      redis.call('HINCRBY', hkey, 'total', spent)
    end
  end
  k = k + 3 * B
end
return 0
"""

# KEYS: a budget's hash, the epoch marker. ARGV: expire at (ms), watermark
# minute, base, then field/value pairs (the minutes after the watermark), then
# the total. Sets the counter only where it is missing (two replicas rebuilding
# at once leave one answer), and the marker that says this Redis has counted
# budgets since it started (``gateway.limits._seed``).
INIT = """
redis.call('SET', KEYS[2], '1')
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'w', ARGV[2], 'base', ARGV[3], 'total', ARGV[#ARGV])
for i = 4, #ARGV - 1, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
"""

# KEYS: a budget's hash. ARGV: watermark minute, the database's spend before it.
# Replaces what the database knows for sure (everything before the watermark)
# and keeps the minutes since as settled; a missing counter is left to INIT.
RECONCILE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local watermark = tonumber(ARGV[1])
local total = tonumber(ARGV[2])
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local name = fields[i]
  if string.sub(name, 1, 2) == 'm:' then
    if tonumber(string.sub(name, 3)) < watermark then
      redis.call('HDEL', KEYS[1], name)
    else
      total = total + tonumber(fields[i + 1])
    end
  end
end
redis.call('HSET', KEYS[1], 'w', ARGV[1], 'base', ARGV[2],
  'total', string.format('%.0f', total))
return 1
"""
