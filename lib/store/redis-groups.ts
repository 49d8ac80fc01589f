/**
 * Consumer groups on Redis (issue 9 item 3, architecture decision 5): the Redis Streams
 * consumer group of a room's stream holds a wsq group's progress, so every node sharing the
 * Redis store agrees on it and it survives node restarts.
 *
 * Mapping (PROTOCOL.md §5.5):
 * - the wsq consumer `group:<name>` is the Streams group of that name on the room's stream
 *   (entry id `<offset>-0`, decision 2); a new group starts after `startAfter` (R5.5.1) by
 *   `XGROUP CREATE … <startAfter>-0 MKSTREAM`; an existing one continues (BUSYGROUP);
 * - each wsq **node** is one Streams consumer of the group (its `nodeId`): the node's member
 *   sockets share it and the node assigns deliveries to them in turn (R5.5.2);
 * - new messages: `XREADGROUP … >` (delivery count 1); due ones: `XAUTOCLAIM` with
 *   min-idle = `ackTimeoutMs`, which also takes the pending entries of a node that died
 *   (R5.5.3); the attempt number is the entry's delivery count (`XPENDING`), which every
 *   claim increments;
 * - an ack is `XACK`, guarded: only the consumer that holds the entry with the delivery
 *   count of that delivery may ack it, so a late ack of a delivery that was taken back (ack
 *   timeout, another node claimed it) changes nothing (R5.4.6: its id became unknown);
 * - a nack, a member leaving, or a claimed entry no member can take now "releases" the entry:
 *   `XCLAIM … IDLE <ms> JUSTID` makes it claimable at once (or after the nack's `delayMs`),
 *   by this node or any other, without counting an attempt;
 * - dead letters (R5.5.4, R5.5.9) go through the store's append of `$dead:<room>` with
 *   `AppendExtra.groupAck`: the same script appends the copy and XACKs the entry, guarded as
 *   an ack ({@link GROUP_ACK_GUARD_LUA}), so a message is either still pending or dead and
 *   acked, never both and never twice.
 *
 * Each function here is one script (one round trip, atomic). Keys: only the room's stream key
 * (declared as KEYS[1], so the scripts are Redis Cluster safe: one hash slot per room).
 */
import type { Redis } from 'ioredis';
import type { StoredMessage } from './types.js';

/** Entries one `take` claims and reads at most (the caller asks for its members' free prefetch, capped here). */
export const MAX_TAKE = 256;

/**
 * Lua: the guard of a group ack. With `stream`, `group`, `consumer`, `id` and `count` (the
 * delivery count the caller saw, `0` = any) it sets `ok` to true when that entry is pending
 * on `consumer` with that delivery count. Used by {@link RedisGroupOps.ack} and, as the
 * contract with the Redis store (`AppendExtra.groupAck`), before a dead letter's append.
 */
export const GROUP_ACK_GUARD_LUA = `
local function group_ack_ok(stream, group, consumer, id, count)
  local p = redis.call('XPENDING', stream, group, id, id, 1)
  if #p == 0 then return false end
  if p[1][2] ~= consumer then return false end
  local want = tonumber(count)
  if want ~= 0 and tonumber(p[1][4]) ~= want then return false end
  return true
end
`;

/**
 * ensure: create the group at ARGV[2] when missing ('' = do not create); report fresh (1), missing
 * (-1) or existing (0), last-delivered-id, pending count and lowest pending id.
 */
const ENSURE_LUA = `
local key, g = KEYS[1], ARGV[1]
local fresh = 0
if ARGV[2] == '' then
  if redis.call('EXISTS', key) == 0 then return { -1, '0-0', 0, '' } end
else
  local r = redis.pcall('XGROUP', 'CREATE', key, g, ARGV[2], 'MKSTREAM')
  if type(r) == 'table' and r.err then
    if not string.find(r.err, 'BUSYGROUP', 1, true) then return redis.error_reply(r.err) end
  else
    fresh = 1
  end
end
local last = nil
for _, info in ipairs(redis.call('XINFO', 'GROUPS', key)) do
  local name, lid
  for i = 1, #info, 2 do
    if info[i] == 'name' then name = info[i + 1] elseif info[i] == 'last-delivered-id' then lid = info[i + 1] end
  end
  if name == g then last = lid end
end
if not last then return { -1, '0-0', 0, '' } end
local p = redis.call('XPENDING', key, g)
return { fresh, last, p[1], p[2] or '' }
`;

/**
 * take: XAUTOCLAIM up to ARGV[4] entries idle >= ARGV[3] ms from cursor ARGV[5] (their delivery
 * count from XPENDING), then XREADGROUP new ones for the rest. Reply [cursor, claimed
 * [id, count, fields]…, new [id, fields]…, gone ids, missing 0/1]; missing = the group is not there
 * (Redis lost its data, or the room's stream was removed): the caller re-creates the log, then the group.
 */
const TAKE_LUA = `
local key, g, c = KEYS[1], ARGV[1], ARGV[2]
local want = tonumber(ARGV[4])
local r = redis.pcall('XAUTOCLAIM', key, g, c, ARGV[3], ARGV[5], 'COUNT', want)
if type(r) == 'table' and r.err then
  if string.find(r.err, 'NOGROUP', 1, true) then return { '0-0', {}, {}, {}, 1 } end
  return redis.error_reply(r.err)
end
local claimed, gone = {}, {}
for _, e in ipairs(r[2]) do
  if e and e[2] then
    local p = redis.call('XPENDING', key, g, e[1], e[1], 1)
    claimed[#claimed + 1] = { e[1], p[1] and p[1][4] or 1, e[2] }
  elseif e then
    -- Redis 6.2 lists an entry trimmed from the stream with nil fields: it is gone, drop it from the PEL.
    redis.call('XACK', key, g, e[1])
    gone[#gone + 1] = e[1]
  end
end
if r[3] then for _, id in ipairs(r[3]) do gone[#gone + 1] = id end end
local fresh = {}
local left = want - #claimed
if left > 0 then
  local n = redis.call('XREADGROUP', 'GROUP', g, c, 'COUNT', left, 'STREAMS', key, '>')
  if n and n[1] then fresh = n[1][2] end
end
return { r[1], claimed, fresh, gone, 0 }
`;

/** ack: ARGV = group, consumer, then id, count pairs; XACK each that passes the guard; reply: how many. */
const ACK_LUA = `${GROUP_ACK_GUARD_LUA}
local key, g, c = KEYS[1], ARGV[1], ARGV[2]
local n = 0
for i = 3, #ARGV, 2 do
  if group_ack_ok(key, g, c, ARGV[i], ARGV[i + 1]) then n = n + redis.call('XACK', key, g, ARGV[i]) end
end
return n
`;

/**
 * release: ARGV = group, consumer, then id, count, idle ms, retry count quads: for each entry still
 * held by this consumer with that count, set its idle time (claimable once idle >= ackTimeoutMs)
 * and its delivery count (`retry`), without counting a delivery (JUSTID); `idle` -1 only resets
 * the idle time to 0 (a keep-alive). Reply: how many.
 */
const RELEASE_LUA = `${GROUP_ACK_GUARD_LUA}
local key, g, c = KEYS[1], ARGV[1], ARGV[2]
local n = 0
for i = 3, #ARGV, 4 do
  if group_ack_ok(key, g, c, ARGV[i], ARGV[i + 1]) then
    if tonumber(ARGV[i + 2]) < 0 then
      redis.call('XCLAIM', key, g, c, 0, ARGV[i], 'JUSTID')
    else
      redis.call('XCLAIM', key, g, c, 0, ARGV[i], 'IDLE', ARGV[i + 2], 'RETRYCOUNT', ARGV[i + 3], 'JUSTID')
    end
    n = n + 1
  end
end
return n
`;

/** The stream entry id of an offset (decision 2: `<offset>-0`). */
export function entryId(offset: number): string {
  return `${offset}-0`;
}

/** The offset of a stream entry id `<offset>-<seq>`. */
export function offsetOfId(id: string): number {
  const dash = id.indexOf('-');
  return Number(dash < 0 ? id : id.slice(0, dash));
}

/** Turns a stream entry (its id and flat field list, as XREADGROUP returns it) into the stored message; undefined when it is not one. */
export type EntryDecoder = (id: string, fields: string[]) => StoredMessage | undefined;

/** Where the group's stream is and how to read its entries: given by the Redis store (its key function and decoder). */
export interface GroupStream {
  /** The command connection (the store's / `lib/redis/bus.ts`'s). */
  readonly redis: Redis;
  /** The room's stream key. */
  readonly key: string;
  readonly decode: EntryDecoder;
}

/** One message taken for delivery, with its attempt number (the entry's delivery count). */
export interface Taken {
  msg: StoredMessage;
  attempt: number;
}

/** What one `take` got. */
export interface TakeResult {
  /** Due again (taken back after the ack timeout, released by a nack or a leaving member, or left by a dead node), attempt ≥ 2 usually. */
  due: Taken[];
  /** Never delivered to the group before (attempt 1). */
  fresh: Taken[];
  /** Offsets that were pending but are no longer in the log (retention): done, nothing to deliver. */
  gone: number[];
  /** True when the group is missing (Redis lost it): nothing was taken; re-create the log's position, then `ensure(0)`. */
  missing: boolean;
  /** Entries the script saw but could not decode (left pending; reported by the caller). */
  undecodable: number;
}

/** Where the group stands in Redis (for `state()`, `lag` and the join's `recovered`). */
export interface GroupProgress {
  /** True when this call created the group. */
  fresh: boolean;
  /** True when the group does not exist (only from `progress`). */
  missing: boolean;
  /** Offset of the last entry ever delivered to the group. */
  lastDelivered: number;
  /** Entries delivered and not acked (all nodes). */
  pending: number;
  /** Every offset at or below this is done: below the lowest pending entry, else the last delivered. */
  floor: number;
}

/** An entry the caller holds, by its offset and the delivery count it was delivered with. */
export interface Held {
  offset: number;
  attempt: number;
}

type Reply = unknown;

interface GroupCommands {
  wsqGroupEnsure(key: string, group: string, start: string): Promise<[number, string, number, string]>;
  wsqGroupTake(key: string, group: string, consumer: string, minIdle: number, count: number, cursor: string): Promise<Reply>;
  wsqGroupAck(key: string, group: string, consumer: string, ...pairs: (string | number)[]): Promise<number>;
  wsqGroupRelease(key: string, group: string, consumer: string, ...quads: (string | number)[]): Promise<number>;
}

/** Register the scripts on a connection once (ioredis `defineCommand`: EVALSHA, EVAL after a Redis restart flushed the script cache). */
function commands(redis: Redis): GroupCommands {
  const r = redis as Redis & Partial<GroupCommands>;
  if (!r.wsqGroupTake) {
    redis.defineCommand('wsqGroupEnsure', { numberOfKeys: 1, lua: ENSURE_LUA });
    redis.defineCommand('wsqGroupTake', { numberOfKeys: 1, lua: TAKE_LUA });
    redis.defineCommand('wsqGroupAck', { numberOfKeys: 1, lua: ACK_LUA });
    redis.defineCommand('wsqGroupRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
  }
  return r as unknown as GroupCommands;
}

/**
 * The Redis operations of one wsq group on one room, as one Streams consumer (this node).
 * Every method is one script call. Keeps the XAUTOCLAIM cursor (no other state).
 */
export class RedisGroupOps {
  private readonly cmd: GroupCommands;
  private cursor = '0-0';

  /**
   * @param stream the room's stream (key, connection, decoder)
   * @param group the Streams group name (the wsq consumer name, `group:<name>`)
   * @param consumer this node's Streams consumer name (its nodeId)
   */
  constructor(
    readonly stream: GroupStream,
    readonly group: string,
    readonly consumer: string,
  ) {
    this.cmd = commands(stream.redis);
  }

  /** Create the group after `startAfter` when it does not exist (R5.5.1), and read where it stands. */
  async ensure(startAfter: number): Promise<GroupProgress> {
    return this.progressOf(entryId(startAfter));
  }

  /** Where the group stands, without creating it (`missing` when it is not there). */
  async progress(): Promise<GroupProgress> {
    return this.progressOf('');
  }

  private async progressOf(start: string): Promise<GroupProgress> {
    const [state, last, pending, minId] = await this.cmd.wsqGroupEnsure(this.stream.key, this.group, start);
    const lastDelivered = offsetOfId(last);
    const n = Number(pending);
    const s = Number(state);
    return { fresh: s === 1, missing: s === -1, lastDelivered, pending: n, floor: n > 0 && minId ? offsetOfId(minId) - 1 : lastDelivered };
  }

  /** Scan for due entries from the start again (something was released, or a deadline passed). */
  rewind(): void {
    this.cursor = '0-0';
  }

  /**
   * Claim up to `count` (≤ MAX_TAKE) entries: due ones (idle ≥ `minIdleMs`, any consumer's) first,
   * then new ones. Every entry returned is pending on this node's consumer, its delivery counted.
   */
  async take(count: number, minIdleMs: number): Promise<TakeResult> {
    const n = Math.max(1, Math.min(MAX_TAKE, count));
    const r = (await this.cmd.wsqGroupTake(this.stream.key, this.group, this.consumer, Math.max(0, Math.floor(minIdleMs)), n, this.cursor)) as [
      string,
      [string, number, string[]][],
      [string, string[]][],
      string[],
      number,
    ];
    this.cursor = r[0];
    const out: TakeResult = { due: [], fresh: [], gone: r[3].map(offsetOfId), missing: Number(r[4]) === 1, undecodable: 0 };
    if (out.missing) this.cursor = '0-0';
    for (const [id, count, fields] of r[1]) {
      const msg = this.stream.decode(id, fields);
      if (msg) out.due.push({ msg, attempt: Number(count) });
      else out.undecodable++;
    }
    for (const [id, fields] of r[2]) {
      const msg = this.stream.decode(id, fields);
      if (msg) out.fresh.push({ msg, attempt: 1 });
      else out.undecodable++;
    }
    return out;
  }

  /** True when the last take's XAUTOCLAIM scan reached the end of the pending list. */
  get scannedAll(): boolean {
    return this.cursor === '0-0';
  }

  /** XACK each entry this consumer still holds with that delivery count; returns how many were acked. */
  async ack(items: readonly Held[]): Promise<number> {
    if (items.length === 0) return 0;
    const args: (string | number)[] = [];
    for (const h of items) args.push(entryId(h.offset), h.attempt);
    return this.cmd.wsqGroupAck(this.stream.key, this.group, this.consumer, ...args);
  }

  /**
   * Make held entries claimable again without counting a delivery: claimable after `afterMs`
   * (0 = at once) given the group's `ackTimeoutMs`. `uncount` also takes back the delivery
   * count of an entry that was claimed but never sent to a member.
   */
  async release(items: readonly (Held & { afterMs: number; uncount?: boolean })[], ackTimeoutMs: number): Promise<number> {
    if (items.length === 0) return 0;
    const args: (string | number)[] = [];
    for (const h of items) {
      const idle = Math.max(0, Math.floor(ackTimeoutMs - h.afterMs));
      args.push(entryId(h.offset), h.attempt, idle, h.uncount ? Math.max(0, h.attempt - 1) : h.attempt);
    }
    return this.cmd.wsqGroupRelease(this.stream.key, this.group, this.consumer, ...args);
  }

  /** Keep held entries from being claimed by another node for another `ackTimeoutMs` (idle reset to 0, no delivery counted). */
  async touch(items: readonly Held[]): Promise<number> {
    if (items.length === 0) return 0;
    const args: (string | number)[] = [];
    for (const h of items) args.push(entryId(h.offset), h.attempt, -1, h.attempt);
    return this.cmd.wsqGroupRelease(this.stream.key, this.group, this.consumer, ...args);
  }
}
