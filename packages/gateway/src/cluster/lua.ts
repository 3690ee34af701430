import type { Redis } from 'ioredis';

// Lua scripts of the cluster state. Each runs atomically on the Redis server (EVALSHA; ioredis
// falls back to EVAL after a restart emptied the script cache), so the races a networked store
// invites — two joins of one user, two members taking one ssrc, a dead node's session resumed
// while it is being reaped — cannot interleave. Every script takes ARGV[1] = key prefix and
// derives key names with the layout documented in keys.ts.

const LIB = `
local P = ARGV[1]
local function rk(room, part) return P .. 'r:{' .. room .. '}:' .. part end
local function sk(sid) return P .. 's:{' .. sid .. '}' end
local function nk(node) return P .. 'n:' .. node .. ':s' end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- The room's stream head (epoch, seq); a new epoch (server time in microseconds) when missing.
local function head(room)
  local q = rk(room, 'q')
  local v = redis.call('HMGET', q, 'e', 'n')
  if v[1] then return v[1], tonumber(v[2]) end
  local t = redis.call('TIME')
  local e = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('DEL', rk(room, 'log'))
  redis.call('HSET', q, 'e', e, 'n', 0)
  return e, 0
end
local function touch(room, ttl)
  redis.call('PEXPIRE', rk(room, 'q'), ttl)
  redis.call('PEXPIRE', rk(room, 'log'), ttl)
end
-- Numbers, logs and fans out one room event; returns its epoch and seq.
local function publish(room, body, maxlen, ttl)
  local e = head(room)
  local n = redis.call('HINCRBY', rk(room, 'q'), 'n', 1)
  local msg = e .. ' ' .. n .. ' ' .. body
  redis.call('XADD', rk(room, 'log'), 'MAXLEN', '~', maxlen, n .. '-0', 'm', msg)
  touch(room, ttl)
  redis.call('SPUBLISH', rk(room, 'ev'), msg)
  return e, n
end
-- true when the session is unknown or owned by node; otherwise its owner ('' = orphaned).
local function owner_ok(sid, node)
  local o = redis.call('HGET', sk(sid), 'node')
  if (not o) or o == node then return true end
  return o
end
-- Removes a membership and its user and ssrc entries; returns the member JSON or false.
local function remove_member(room, sid)
  local m = rk(room, 'm')
  local json = redis.call('HGET', m, sid)
  if not json then return false end
  local rec = cjson.decode(json)
  redis.call('HDEL', m, sid)
  local u = rk(room, 'u')
  if redis.call('HGET', u, rec.userId) == sid then redis.call('HDEL', u, rec.userId) end
  local x = rk(room, 'x')
  redis.call('HDEL', x, string.format('%d', rec.ssrc))
  if redis.call('HLEN', m) == 0 then redis.call('DEL', m, u, x) end
  return json
end
`;

/** Script sources by name. */
export const SCRIPTS = {
  // ARGV: prefix, room, sid, userId, member JSON without its closing brace (no ssrc, no j),
  // ssrc candidates (space-separated), max members (0 = no limit), node, room TTL ms.
  // → {'ok', epoch, seq, member JSON, replaced JSON or '', all member JSONs}
  //   | {'fenced', owner} | {'full'} | {'ssrc'}
  addMember: `${LIB}
local room, sid, uid, node = ARGV[2], ARGV[3], ARGV[4], ARGV[8]
local ok = owner_ok(sid, node)
if ok ~= true then return {'fenced', ok} end
local m, u, x = rk(room, 'm'), rk(room, 'u'), rk(room, 'x')
local mine = redis.call('HGET', m, sid)
local other = redis.call('HGET', u, uid)
if other == sid or (other and redis.call('HEXISTS', m, other) == 0) then other = false end
local max = tonumber(ARGV[7])
if max > 0 and not mine and not other and redis.call('HLEN', m) >= max then return {'full'} end
local ssrc = false
for c in string.gmatch(ARGV[6], '%d+') do
  local holder = redis.call('HGET', x, c)
  if not holder or holder == sid then ssrc = c break end
end
if not ssrc then return {'ssrc'} end
local replaced = ''
if other then
  replaced = remove_member(room, other) or ''
  redis.call('HDEL', sk(other), 'r:' .. room)
end
local j
if mine then
  local old = cjson.decode(mine)
  j = old.j
  local oldSsrc = string.format('%d', old.ssrc)
  if oldSsrc ~= ssrc then redis.call('HDEL', x, oldSsrc) end
else
  j = redis.call('HINCRBY', x, 'j', 1)
end
redis.call('HSET', x, ssrc, sid)
local json = ARGV[5] .. ',"ssrc":' .. ssrc .. ',"j":' .. j .. '}'
redis.call('HSET', m, sid, json)
redis.call('HSET', u, uid, sid)
local e, n = head(room)
touch(room, ARGV[9])
if redis.call('EXISTS', sk(sid)) == 1 then redis.call('HSET', sk(sid), 'r:' .. room, e .. ':' .. n) end
return {'ok', e, n, json, replaced, redis.call('HVALS', m)}
`,

  // ARGV: prefix, room, sid, node → {'ok', member JSON or ''} | {'fenced', owner}
  removeMember: `${LIB}
local ok = owner_ok(ARGV[3], ARGV[4])
if ok ~= true then return {'fenced', ok} end
redis.call('HDEL', sk(ARGV[3]), 'r:' .. ARGV[2])
return {'ok', remove_member(ARGV[2], ARGV[3]) or ''}
`,

  // ARGV: prefix, room, sid, node, then field/value pairs ('1' true, '0' false)
  // → {'ok', member JSON or ''} | {'fenced', owner}
  updateMember: `${LIB}
local ok = owner_ok(ARGV[3], ARGV[4])
if ok ~= true then return {'fenced', ok} end
local m = rk(ARGV[2], 'm')
local json = redis.call('HGET', m, ARGV[3])
if not json then return {'ok', ''} end
local rec = cjson.decode(json)
for i = 5, #ARGV, 2 do rec[ARGV[i]] = (ARGV[i + 1] == '1') end
-- cjson writes numbers with 14 significant digits: ssrcs (< 2^32) and j stay exact.
json = cjson.encode(rec)
redis.call('HSET', m, ARGV[3], json)
return {'ok', json}
`,

  // ARGV: prefix, room, event JSON, log max length, room TTL ms → {epoch, seq}
  publish: `${LIB}
local e, n = publish(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return {e, n}
`,

  // ARGV: prefix, sid, record JSON, node → 1 | owner (fenced)
  putSession: `${LIB}
local s = sk(ARGV[2])
local o = redis.call('HGET', s, 'node')
if o and o ~= ARGV[4] then return o end
redis.call('HSET', s, 'rec', ARGV[3], 'node', ARGV[4])
redis.call('HSETNX', s, 'last', 0)
redis.call('SADD', nk(ARGV[4]), ARGV[2])
redis.call('ZREM', P .. 'orphans', ARGV[2])
return 1
`,

  // ARGV: prefix, sid, node → 1 | owner (fenced: nothing deleted)
  deleteSession: `${LIB}
local s = sk(ARGV[2])
local o = redis.call('HGET', s, 'node')
if o and o ~= '' and o ~= ARGV[3] then return o end
redis.call('DEL', s, s .. ':q')
if o and o ~= '' then redis.call('SREM', nk(o), ARGV[2]) end
redis.call('ZREM', P .. 'orphans', ARGV[2])
return 1
`,

  // Every replay write of one flush. ARGV: prefix, node, then records:
  //   'a', entry, room ('' none), room cursor, count, then count × (sid, seq, keep)
  //   't', sid, keep
  // → one code per session write, in order: 0 written | 1 no such session | 2 owned by another
  // node | 3 orphaned. The room cursor field is written even if the session left the room
  // meanwhile: a stale r:<room> field is harmless (claim and reap check the room's members).
  write: `${LIB}
local node = ARGV[2]
local out = {}
local function owned(s)
  local o = redis.call('HGET', s, 'node')
  if not o then return 1 end
  if o == '' then return 3 end
  if o ~= node then return 2 end
  return 0
end
local i = 3
while i <= #ARGV do
  if ARGV[i] == 'a' then
    local entry, room, cursor, count = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
    i = i + 5
    for _ = 1, count do
      local s = sk(ARGV[i])
      local code = owned(s)
      if code == 0 then
        local q = s .. ':q'
        redis.call('RPUSH', q, entry)
        redis.call('LTRIM', q, -tonumber(ARGV[i + 2]), -1)
        if room == '' then redis.call('HSET', s, 'last', ARGV[i + 1])
        else redis.call('HSET', s, 'last', ARGV[i + 1], 'r:' .. room, cursor) end
      end
      out[#out + 1] = code
      i = i + 3
    end
  else
    local s = sk(ARGV[i + 1])
    local code = owned(s)
    if code == 0 then
      local keep = tonumber(ARGV[i + 2])
      if keep == 0 then redis.call('DEL', s .. ':q') else redis.call('LTRIM', s .. ':q', -keep, -1) end
    end
    out[#out + 1] = code
    i = i + 3
  end
end
return out
`,

  // ARGV: prefix, sid, node → nil | {previous owner, session hash as a flat list, replay entries}
  claim: `${LIB}
local s = sk(ARGV[2])
local prev = redis.call('HGET', s, 'node')
if not prev then return false end
if prev ~= ARGV[3] then
  if prev ~= '' then redis.call('SREM', nk(prev), ARGV[2]) end
  redis.call('HSET', s, 'node', ARGV[3])
  redis.call('SADD', nk(ARGV[3]), ARGV[2])
end
redis.call('ZREM', P .. 'orphans', ARGV[2])
return {prev, redis.call('HGETALL', s), redis.call('LRANGE', s .. ':q', 0, -1)}
`,

  // ARGV: prefix, dead node, grace ms → sessions orphaned, or -1 when the node is alive again
  orphanNode: `${LIB}
local dead = ARGV[2]
if redis.call('EXISTS', P .. 'n:' .. dead) == 1 then return -1 end
local set = nk(dead)
local deadline = now_ms() + tonumber(ARGV[3])
local n = 0
for _, sid in ipairs(redis.call('SMEMBERS', set)) do
  local s = sk(sid)
  if redis.call('HGET', s, 'node') == dead then
    redis.call('HSET', s, 'node', '')
    redis.call('ZADD', P .. 'orphans', deadline, sid)
    n = n + 1
  end
end
redis.call('DEL', set)
redis.call('ZREM', P .. 'nodes', dead)
return n
`,

  // ARGV: prefix, sid, log max length, room TTL ms → memberships removed, or -1 (not due,
  // claimed, or already gone). Each removal is published as PARTICIPANT_LEFT.
  reapSession: `${LIB}
local sid = ARGV[2]
local z = P .. 'orphans'
local score = redis.call('ZSCORE', z, sid)
if not score or tonumber(score) > now_ms() then return -1 end
local s = sk(sid)
local o = redis.call('HGET', s, 'node')
if o and o ~= '' then
  redis.call('ZREM', z, sid)
  return -1
end
local h = redis.call('HGETALL', s)
local n = 0
for i = 1, #h, 2 do
  if string.sub(h[i], 1, 2) == 'r:' then
    local room = string.sub(h[i], 3)
    local json = remove_member(room, sid)
    if json then
      local rec = cjson.decode(json)
      publish(room, cjson.encode({t = 'PARTICIPANT_LEFT', d = {room = room, userId = rec.userId}}),
        ARGV[3], ARGV[4])
      n = n + 1
    end
  end
end
redis.call('DEL', s, s .. ':q')
redis.call('ZREM', z, sid)
return n
`,

  // Rebuild of one session this node holds. ARGV: prefix, node, sid, record JSON ('' = only
  // memberships), last seq, entry count N, N entries, room TTL ms, then per membership: room,
  // userId, member JSON without its closing brace (no ssrc, no j), ssrc, j.
  // → {'ok', {room, 'ok'|'conflict', cursor, ...}} | {'fenced', owner}
  restoreSession: `${LIB}
local node, sid = ARGV[2], ARGV[3]
local s = sk(sid)
local o = redis.call('HGET', s, 'node')
if o and o ~= '' and o ~= node then return {'fenced', o} end
local ne = tonumber(ARGV[6])
if ARGV[4] ~= '' then
  redis.call('HSET', s, 'rec', ARGV[4], 'node', node, 'last', ARGV[5])
  redis.call('SADD', nk(node), sid)
  redis.call('ZREM', P .. 'orphans', sid)
  local q = s .. ':q'
  redis.call('DEL', q)
  for i = 7, 6 + ne do redis.call('RPUSH', q, ARGV[i]) end
end
local at = 7 + ne
local ttl = ARGV[at]
local out = {}
for i = at + 1, #ARGV, 5 do
  local room, uid, base, ssrc, j = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  local m, u, x = rk(room, 'm'), rk(room, 'u'), rk(room, 'x')
  local byS = redis.call('HGET', x, ssrc)
  local byU = redis.call('HGET', u, uid)
  local status = 'ok'
  if (byS and byS ~= sid) or (byU and byU ~= sid) then
    status = 'conflict'
  else
    redis.call('HSET', m, sid, base .. ',"ssrc":' .. ssrc .. ',"j":' .. j .. '}')
    redis.call('HSET', u, uid, sid)
    redis.call('HSET', x, ssrc, sid)
    if tonumber(redis.call('HGET', x, 'j') or '0') < j then redis.call('HSET', x, 'j', j) end
  end
  local e, n = head(room)
  touch(room, ttl)
  if status == 'ok' and ARGV[4] ~= '' then redis.call('HSETNX', s, 'r:' .. room, e .. ':' .. n) end
  out[#out + 1] = room
  out[#out + 1] = status
  out[#out + 1] = e .. ':' .. n
end
return {'ok', out}
`,
} as const;

/** Name of a cluster script. */
export type ScriptName = keyof typeof SCRIPTS;

/** An argument of a script call. */
export type ScriptArg = string | number | Buffer;

type ScriptFn = (...args: ScriptArg[]) => Promise<unknown>;

// ioredis adds one method per defined command (and a `…Buffer` twin returning Buffers).
const COMMAND_PREFIX = 'concord_';

/** Defines every cluster script on `redis` (idempotent). */
export function defineScripts(redis: Redis): void {
  for (const [name, lua] of Object.entries(SCRIPTS)) {
    if (typeof (redis as unknown as Record<string, unknown>)[COMMAND_PREFIX + name] === 'function')
      continue;
    redis.defineCommand(COMMAND_PREFIX + name, { numberOfKeys: 0, lua });
  }
}

/**
 * Runs a script (EVALSHA, EVAL when the server forgot it); replies hold strings, or Buffers
 * with `buffers`. `defineScripts(redis)` must have run.
 */
export function runScript(
  redis: Redis,
  name: ScriptName,
  args: readonly ScriptArg[],
  buffers = false,
): Promise<unknown> {
  const fn = (redis as unknown as Record<string, ScriptFn | undefined>)[
    COMMAND_PREFIX + name + (buffers ? 'Buffer' : '')
  ];
  if (!fn) throw new TypeError(`script ${name} is not defined on this connection`);
  return fn.apply(redis, args as ScriptArg[]);
}
