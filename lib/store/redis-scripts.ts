/**
 * The Lua scripts of the Redis store (lib/store/redis.ts). Every step that must not be split by a
 * crash or by another node's command is one script, so Redis runs it alone and all at once:
 *
 * - `wsqAppend`: dedup check, age expiry, count/bytes retention (trim or refuse), the offset
 *   (`last + 1` of the meta hash), the stream entry `<offset>-0`, the dedup key (`SET … PX window`), the
 *   dead-letter consumer state of `AppendExtra.consumer`, and the `SPUBLISH` of the committed
 *   message on the room's shard channel: channel order is offset order (decision 3).
 * - `wsqPosition`: creates the log (and its epoch) if it is missing, applies age expiry.
 * - `wsqRead`: age expiry, then the entries from an offset.
 * - `wsqSweep`: forgets one room if it is idle (R5.6.7).
 *
 * Data model of one room (key names in redis.ts `redisKeys`):
 * - meta hash: `epoch`, `first`, `last`, `bytes`, `touched` (store clock, ms), `ns`, `room`
 *   (both JSON strings, so lone surrogates survive);
 * - stream: entry id `<offset>-0`, fields in this order: `t` (message ts), `z` (retention size),
 *   `r` (the record `{"e":event,"f":from,"k":key,"d":<data JSON>}`);
 * - consumers hash: field = JSON string of the consumer name, value = ConsumerState JSON;
 * - dedup key per idempotency key: `<epoch> <offset> <store time>` with PX = the dedup window.
 *
 * Failure inside a script: Redis does not roll a script back. Out of memory refuses the script's
 * first write (nothing is done) and lets a script that has written finish, so OOM never splits a
 * step. The only writes before an append takes its offset (`last`) are the log's creation and
 * retention trims, which a later append would make too; an error after it would leave that offset
 * a gap (allowed by the Store rules), never a reused offset.
 *
 * Times are the store's clock (`StoreOptions.now`, passed as arguments), not Redis's TIME, so an
 * injected clock works and nodes agree within their clock skew. Numbers that must stay exact
 * (ts, now) are passed and kept as strings; offsets are integers below 2^53, written with `%d`.
 */

/**
 * Shared Lua helpers, prepended to every script. A script loads the log's state once
 * (`load`/`ensure`: one HMGET), works on it in Lua, and writes it back once (`save`: one HSET).
 * - `dropFront(stream, st, stop, hint)`: drop entries from the front until `stop(count, bytes, ts)`
 *   (exact `XTRIM MINID`, or `MAXLEN 0` when all go); keeps `st.first`, `st.bytes`, `st.count`.
 * - `expire(stream, st, cutoff)`: drop entries with `t < cutoff` from the front.
 */
const HELPERS = `
local function num(v) return string.format('%d', v) end

-- The log's state, or nil when it has no meta hash.
local function load(meta)
  local v = redis.call('HMGET', meta, 'epoch', 'first', 'last', 'bytes')
  if not v[1] then return nil end
  return { epoch = v[1], first = tonumber(v[2]), last = tonumber(v[3]), bytes = tonumber(v[4] or '0'), dirty = false }
end

-- The log's state, creating the log (under epoch) when it is missing.
local function ensure(meta, stream, epoch, now, nsj, roomj)
  local st = load(meta)
  if st then return st end
  -- A stream without its meta is from an earlier life of this log (evicted, deleted by hand):
  -- it goes. Unless it never held an entry (last id 0-0): a consumer group made it (MKSTREAM).
  if redis.call('EXISTS', stream) == 1 then
    local info = redis.call('XINFO', 'STREAM', stream)
    local lid = nil
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then lid = info[i + 1] break end
    end
    if lid ~= '0-0' then redis.call('DEL', stream) end
  end
  redis.call('HSET', meta, 'epoch', epoch, 'first', '1', 'last', '0', 'bytes', '0', 'touched', now, 'ns', nsj, 'room', roomj)
  return { epoch = epoch, first = 1, last = 0, bytes = 0, dirty = false }
end

-- Walk from the front; drop while stop(count, bytes, ts) is false. Reads hint entries first
-- (doubling up to 128 per XRANGE), so a trim of one entry reads two.
local function dropFront(stream, st, stop, hint)
  if st.count == nil then st.count = redis.call('XLEN', stream) end
  local count, bytes = st.count, st.bytes
  local keep = nil
  local dropped = 0
  local start = '-'
  local n = hint
  while count > 0 do
    local batch = redis.call('XRANGE', stream, start, '+', 'COUNT', n)
    if #batch == 0 then break end
    for i = 1, #batch do
      local e = batch[i]
      if stop(count, bytes, tonumber(e[2][2])) then keep = e[1] break end
      count = count - 1
      bytes = bytes - tonumber(e[2][4])
      dropped = dropped + 1
    end
    if keep then break end
    start = '(' .. batch[#batch][1]
    if n < 128 then n = n * 2 end
  end
  if dropped == 0 then return end
  if keep then
    redis.call('XTRIM', stream, 'MINID', keep)
    st.first = tonumber(string.match(keep, '^(%d+)'))
  else
    redis.call('XTRIM', stream, 'MAXLEN', 0)
    count = 0
    bytes = 0
    st.first = st.last + 1
  end
  st.count, st.bytes, st.dirty = count, bytes, true
end

local function expire(stream, st, cutoff)
  if cutoff == nil or st.first > st.last then return end
  dropFront(stream, st, function(_, _, ts) return ts >= cutoff end, 2)
end

-- Write first and bytes back after a trim.
local function saveTrim(meta, st)
  if st.dirty then redis.call('HSET', meta, 'first', num(st.first), 'bytes', num(st.bytes)) end
end
`;

/**
 * Append one message; refuses with an error reply `WSQFULL <limit>` under overflow `reject`.
 *
 * With `AppendExtra.groupAck` (role E, lib/store/redis-groups.ts) the script first runs the group
 * ack guard `group_ack_ok` (E's `GROUP_ACK_GUARD_LUA`, prepended to this script by redis.ts): when
 * the entry is no longer pending on that consumer with that delivery count nothing is stored and
 * the reply says stale; else the entry is XACKed in the same step as the dead letter's append.
 *
 * KEYS: 1 meta, 2 stream, 3 dedup key (= meta when none), 4 consumers hash of `extra.consumer`'s
 * room (= meta when none), 5 the stream of `groupAck.room` (= meta when none).
 * ARGV: 1 new epoch (used if the log is created), 2 now, 3 ts, 4 size, 5 record, 6 maxMessages,
 * 7 maxBytes, 8 age cutoff ('' = none), 9 reject ('1'/'0'), 10 dedup window ms ('0' = no dedup),
 * 11 consumer field ('' = none), 12 consumer state JSON, 13 shard channel ('' = no publish),
 * 14 ns JSON, 15 room JSON, 16 group ('' = no groupAck), 17 group consumer, 18 entry id,
 * 19 delivery count.
 * Reply: `{offset, epoch, duplicate 0|1, stale 0|1}`.
 */
export const APPEND = `${HELPERS}
local meta, stream, dkey, ckey, gkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = ARGV[2]
local st = ensure(meta, stream, ARGV[1], now, ARGV[14], ARGV[15])
local epoch = st.epoch
local group = ARGV[16]
if group ~= '' and not group_ack_ok(gkey, group, ARGV[17], ARGV[18], ARGV[19]) then
  return {0, epoch, 0, 1}
end
local window = tonumber(ARGV[10])
local function saveConsumer()
  if ARGV[11] ~= '' then redis.call('HSET', ckey, ARGV[11], ARGV[12]) end
  if group ~= '' then redis.call('XACK', gkey, group, ARGV[18]) end
end
if window > 0 then
  local seen = redis.call('GET', dkey)
  if seen then
    local se, so, sts = string.match(seen, '^(%S+) (%d+) (%S+)$')
    if se == epoch and tonumber(sts) > tonumber(now) - window then
      saveConsumer()
      return {tonumber(so), epoch, 1, 0}
    end
  end
end
local size = tonumber(ARGV[4])
local maxMessages = tonumber(ARGV[6])
local maxBytes = tonumber(ARGV[7])
if ARGV[8] ~= '' then expire(stream, st, tonumber(ARGV[8])) end
local function fits(count, bytes)
  return not ((maxMessages > 0 and count + 1 > maxMessages) or (maxBytes > 0 and bytes + size > maxBytes))
end
if ARGV[9] == '1' then
  if maxMessages > 0 then
    if st.count == nil then st.count = redis.call('XLEN', stream) end
    if st.count + 1 > maxMessages then saveTrim(meta, st) return redis.error_reply('WSQFULL maxMessages ' .. ARGV[6]) end
  end
  if maxBytes > 0 and st.bytes + size > maxBytes then saveTrim(meta, st) return redis.error_reply('WSQFULL maxBytes ' .. ARGV[7]) end
elseif maxMessages > 0 or maxBytes > 0 then
  if st.count == nil then st.count = redis.call('XLEN', stream) end
  local hint = 2
  if maxMessages > 0 then hint = math.max(2, st.count + 2 - maxMessages) end
  dropFront(stream, st, fits, math.min(hint, 128))
end
local offset = st.last + 1
local o = num(offset)
-- the offset is taken first, so a failure of what follows leaves a gap, never a reused offset;
-- an empty log (first = last + 1) starts at this offset: first already equals it
redis.call('HSET', meta, 'last', o, 'first', num(st.first), 'bytes', num(st.bytes + size), 'touched', now)
redis.call('XADD', stream, o .. '-0', 't', ARGV[3], 'z', ARGV[4], 'r', ARGV[5])
if window > 0 then
  redis.call('SET', dkey, epoch .. ' ' .. o .. ' ' .. now, 'PX', num(window))
end
saveConsumer()
if ARGV[13] ~= '' then
  redis.call('SPUBLISH', ARGV[13], o .. '\\n' .. epoch .. '\\n' .. ARGV[3] .. '\\n' .. ARGV[5])
end
return {offset, epoch, 0, 0}
`;

/**
 * The log's position, creating it if missing. Returns `{epoch, first, last}`.
 * KEYS: 1 meta, 2 stream. ARGV: 1 new epoch, 2 now, 3 age cutoff ('' = none), 4 ns JSON, 5 room JSON.
 */
export const POSITION = `${HELPERS}
local meta, stream = KEYS[1], KEYS[2]
local st = ensure(meta, stream, ARGV[1], ARGV[2], ARGV[4], ARGV[5])
if ARGV[3] ~= '' then
  expire(stream, st, tonumber(ARGV[3]))
  saveTrim(meta, st)
end
return {st.epoch, st.first, st.last}
`;

/**
 * Entries with offset >= from, at most `limit`, unexpired. Returns a flat list
 * `{offset, ts, record, offset, ts, record, …}` (empty for a log that does not exist; it is not created).
 * KEYS: 1 meta, 2 stream. ARGV: 1 from, 2 limit, 3 age cutoff ('' = none).
 */
export const READ = `${HELPERS}
local meta, stream = KEYS[1], KEYS[2]
local cutoff = nil
if ARGV[3] ~= '' then
  local st = load(meta)
  if not st then return {} end
  cutoff = tonumber(ARGV[3])
  expire(stream, st, cutoff)
  saveTrim(meta, st)
elseif redis.call('EXISTS', meta) == 0 then
  return {}
end
local out = {}
local want = tonumber(ARGV[2])
local start = ARGV[1] .. '-0'
while want > 0 do
  local batch = redis.call('XRANGE', stream, start, '+', 'COUNT', want)
  if #batch == 0 then break end
  for i = 1, #batch do
    local e = batch[i]
    if cutoff == nil or tonumber(e[2][2]) >= cutoff then
      out[#out + 1] = string.match(e[1], '^(%d+)')
      out[#out + 1] = e[2][2]
      out[#out + 1] = e[2][6]
      want = want - 1
    end
  end
  start = '(' .. batch[#batch][1]
end
return out
`;

/**
 * Forget one room if idle (R5.6.7): not written for `ttl`, no consumer state, no Streams consumer
 * group (role E's groups live on the same stream), and nothing held after age expiry. Returns 1
 * when it went, else 0.
 * KEYS: 1 meta, 2 stream, 3 consumers hash. ARGV: 1 now, 2 ttl ms, 3 age cutoff ('' = none).
 */
export const SWEEP = `${HELPERS}
local meta, stream, cons = KEYS[1], KEYS[2], KEYS[3]
local touched = redis.call('HGET', meta, 'touched')
if not touched then return 0 end
if tonumber(ARGV[1]) - tonumber(touched) < tonumber(ARGV[2]) then return 0 end
if redis.call('HLEN', cons) > 0 then return 0 end
if redis.call('EXISTS', stream) == 1 and #redis.call('XINFO', 'GROUPS', stream) > 0 then return 0 end
if ARGV[3] ~= '' then
  local st = load(meta)
  expire(stream, st, tonumber(ARGV[3]))
  saveTrim(meta, st)
end
if redis.call('XLEN', stream) > 0 then return 0 end
redis.call('DEL', meta, stream)
return 1
`;
