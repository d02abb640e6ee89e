package redisengine

import "github.com/redis/go-redis/v9"

// The scripts run atomically in Redis: no other command runs between their first and last
// call, which is what keeps the per-user log, its sequence numbers, the "kept" set and the
// session counts consistent across nodes without locks. They compute key names from the prefix
// (ARGV[1]), so they need a single Redis server (or a cluster with one hash slot per prefix,
// which Redis Cluster does not give for computed keys): see the package doc.
//
// Keys, all under the prefix p:
//
//	p.."seq"              INCR counter: the number of every message, cluster-wide
//	p.."users"            set of registered user ids
//	p.."online"           set of user ids with a session on some node
//	p.."stats"            hash of cluster counters (kept, buffered, dropped, expired)
//	p.."nodes"            set of node ids that sent a heartbeat
//	p.."node:"..node      the node's heartbeat (address, figures); expires when it stops
//	p.."u:"..id           hash: hash (SHA-256 hex of the secret), bytes, pruned, gen (see
//	                      disconnectScript)
//	p.."u:"..id..":log"   sorted set by seq of "at:len:{json}" entries (recovery and buffer)
//	p.."u:"..id..":kept"  sorted set of seqs no session received yet
//	p.."u:"..id..":nodes" hash node -> live sessions of the user on that node
//	p.."attached:"..id    sorted set of the user's fresh (not resumed) live sessions by owner,
//	                      scored by the sequence when they attached
//	p.."handed:"..id      sorted set of seqs a session that never wrote them handed over
//	                      (releaseScript); expires with the recovery window
//	                      (neither is under "u:"..id, whose suffixes user ids may not end in)
//	p.."pid:"..pid        hash: user, offset, node, owner, live; a session that may resume
//
// Channels: p.."node:"..node (messages for that node's sessions) and p.."all" (broadcasts and
// commands every node acts on). Every node subscribes to those two on one connection.
const prelude = `
local p = ARGV[1]
local now = tonumber(ARGV[2])
local function ukey(id) return p .. 'u:' .. id end

-- live counts the user's sessions on nodes that are alive: their heartbeat is there and they
-- are subscribed to their channel. A node killed without releasing its sessions loses its
-- subscription at once (Redis sees the connection close) but keeps its heartbeat for up to 3 s:
-- its sessions are "held" meanwhile, not live, so that a send to them is kept for the user's
-- next authentication instead of being reported delivered to nobody. The counts of nodes whose
-- heartbeat is gone are forgotten. Returns live count, the live nodes, the held count.
local subscribed = {}
local function listening(node)
  local s = subscribed[node]
  if s == nil then
    s = redis.call('PUBSUB', 'NUMSUB', p .. 'node:' .. node)[2] > 0
    subscribed[node] = s
  end
  return s
end
local function live(uk, id)
  local nodesk = uk .. ':nodes'
  local h = redis.call('HGETALL', nodesk)
  local n, held, nodes = 0, 0, {}
  for i = 1, #h, 2 do
    local c = tonumber(h[i + 1])
    if c > 0 and redis.call('EXISTS', p .. 'node:' .. h[i]) == 1 then
      if listening(h[i]) then
        n = n + c
        nodes[#nodes + 1] = h[i]
      else
        held = held + c
      end
    else
      redis.call('HDEL', nodesk, h[i])
    end
  end
  if n + held == 0 then redis.call('SREM', p .. 'online', id) end
  return n, nodes, held
end

-- prune drops the oldest log entries while over the count or byte bound, and entries too old:
-- kept (undelivered) ones after ttl, delivered ones after the recovery window.
local function prune(uk, size, maxBytes, ttl, rec)
  local logk, keptk = uk .. ':log', uk .. ':kept'
  local bytes = tonumber(redis.call('HGET', uk, 'bytes') or '0')
  local count = redis.call('ZCARD', logk)
  local pruned = nil
  while count > 0 do
    local first = redis.call('ZRANGE', logk, 0, 0, 'WITHSCORES')
    local at, len = string.match(first[1], '^(%d+):(%d+):')
    at, len = tonumber(at), tonumber(len)
    local seq = first[2]
    local kept = redis.call('ZSCORE', keptk, seq)
    local over = count > size or (maxBytes > 0 and bytes > maxBytes)
    local age = now - at
    local expired = (kept and age > ttl) or ((not kept) and age > rec)
    if not over and not expired then break end
    if kept then
      redis.call('ZREM', keptk, seq)
      redis.call('HINCRBY', p .. 'stats', 'kept', -1)
      if over then
        redis.call('HINCRBY', p .. 'stats', 'dropped', 1)
      else
        redis.call('HINCRBY', p .. 'stats', 'expired', 1)
      end
    end
    redis.call('ZREMRANGEBYRANK', logk, 0, 0)
    bytes = bytes - len
    count = count - 1
    pruned = seq
  end
  redis.call('HSET', uk, 'bytes', bytes)
  if pruned then redis.call('HSET', uk, 'pruned', pruned) end
end

local function entry(seq, event, data)
  return '{"seq":' .. seq .. ',"event":' .. cjson.encode(event) .. ',"data":' .. data .. '}'
end
`

// sendScript appends one message to each user's log with its sequence number (one INCR for
// the whole send), marks it kept for users with no live session, and publishes it once per
// node holding sessions of the recipients, with the list of those users and of those whose
// sessions are all on that node ("alone": if none of them takes it, nobody got it).
// ARGV: p, now, event, data, size, maxBytes, ttl, rec, userIds...
// Returns {delivered, buffered, seq, {unknown ids}}.
var sendScript = redis.NewScript(prelude + `
local event, data = ARGV[3], ARGV[4]
local size, maxBytes, ttl, rec = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local seq = redis.call('INCR', p .. 'seq')
local member = ARGV[2] .. ':' .. #data .. ':' .. entry(seq, event, data)
local delivered, buffered, unknown, pernode, alone = 0, 0, {}, {}, {}
for i = 9, #ARGV do
  local id = ARGV[i]
  local uk = ukey(id)
  if redis.call('HEXISTS', uk, 'hash') == 0 then
    unknown[#unknown + 1] = id
  else
    local n, nodes = live(uk, id)
    for _, node in ipairs(nodes) do
      local l = pernode[node]
      if not l then l = {}; pernode[node] = l; alone[node] = {} end
      l[#l + 1] = id
    end
    if #nodes == 1 then
      local a = alone[nodes[1]]
      a[#a + 1] = id
    end
    if size > 0 then
      redis.call('ZADD', uk .. ':log', seq, member)
      redis.call('HINCRBY', uk, 'bytes', #data)
      if n == 0 then
        redis.call('ZADD', uk .. ':kept', seq, seq)
        redis.call('HINCRBY', p .. 'stats', 'kept', 1)
      end
      prune(uk, size, maxBytes, ttl, rec)
    end
    if n == 0 then
      buffered = buffered + 1
      redis.call('HINCRBY', p .. 'stats', 'buffered', 1)
    else
      delivered = delivered + n
    end
  end
end
for node, ids in pairs(pernode) do
  local a = '[]'
  if #alone[node] > 0 then a = cjson.encode(alone[node]) end
  redis.call('PUBLISH', p .. 'node:' .. node,
    '{"seq":' .. seq .. ',"users":' .. cjson.encode(ids) .. ',"alone":' .. a .. ',"event":' .. cjson.encode(event) .. ',"data":' .. data .. '}')
end
return {delivered, buffered, seq, unknown}
`)

// keepScript marks a logged message kept for users whose sessions, all on the calling node,
// closed between the send and its delivery there: nobody got it, as if they had had no live
// session. ARGV: p, now, seq, userIds... Returns how many were marked.
var keepScript = redis.NewScript(prelude + `
local seq, marked = ARGV[3], 0
for i = 4, #ARGV do
  local uk = ukey(ARGV[i])
  if redis.call('ZCOUNT', uk .. ':log', seq, seq) > 0 and redis.call('ZADD', uk .. ':kept', seq, seq) == 1 then
    redis.call('HINCRBY', p .. 'stats', 'kept', 1)
    redis.call('HINCRBY', p .. 'stats', 'buffered', 1)
    marked = marked + 1
  end
end
return marked
`)

// broadcastScript logs one message for every user with a live or held session (for recovery;
// users with none do not keep a broadcast) and publishes it once to every node.
// ARGV: p, now, event, data, size, maxBytes, ttl, rec. Returns {delivered, seq}.
var broadcastScript = redis.NewScript(prelude + `
local event, data = ARGV[3], ARGV[4]
local size, maxBytes, ttl, rec = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local seq = redis.call('INCR', p .. 'seq')
local member = ARGV[2] .. ':' .. #data .. ':' .. entry(seq, event, data)
local total = 0
for _, id in ipairs(redis.call('SMEMBERS', p .. 'online')) do
  local uk = ukey(id)
  if redis.call('HEXISTS', uk, 'hash') == 0 then
    redis.call('SREM', p .. 'online', id)
  else
    local n, _, held = live(uk, id)
    total = total + n
    if n + held > 0 then
      if size > 0 then
        redis.call('ZADD', uk .. ':log', seq, member)
        redis.call('HINCRBY', uk, 'bytes', #data)
        prune(uk, size, maxBytes, ttl, rec)
      end
    end
  end
end
redis.call('PUBLISH', p .. 'all',
  '{"seq":' .. seq .. ',"all":true,"event":' .. cjson.encode(event) .. ',"data":' .. data .. '}')
return {total, seq}
`)

// attachScript authenticates a session and counts it on its node: the messages kept for the
// user are returned to it (and are no longer kept) in the same step, so that a send running
// at the same time is either among them or published after it — never lost, never twice.
// The hash is compared as SHA-256 digests: timing can at most tell how much of the stored
// digest an attacker's own digest matches, which does not help to find a matching secret.
// ARGV: p, now, node, id, hashHex, pid, owner, size, maxBytes, ttl, rec, maxSessions, liveTTL.
// Returns {"ok", seqNow, startAt, gen, entries...} or {"unauthorized"} / {"toomany"}.
var attachScript = redis.NewScript(prelude + `
local node, id, pid, owner = ARGV[3], ARGV[4], ARGV[6], ARGV[7]
local size, maxBytes, ttl, rec = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local maxSessions, liveTTL = tonumber(ARGV[12]), tonumber(ARGV[13])
local uk = ukey(id)
local h = redis.call('HGET', uk, 'hash')
if not h or h ~= ARGV[5] then return {'unauthorized'} end
prune(uk, size, maxBytes, ttl, rec)
if maxSessions > 0 and live(uk, id) >= maxSessions then return {'toomany'} end
redis.call('HINCRBY', uk .. ':nodes', node, 1)
redis.call('SADD', p .. 'online', id)
local seqNow = tonumber(redis.call('GET', p .. 'seq') or '0')
local out = {'ok', seqNow, seqNow, redis.call('HGET', uk, 'gen') or '0'}
-- When it attached, for what another session's end hands over (releaseScript).
redis.call('ZADD', p .. 'attached:' .. id, seqNow, owner)
redis.call('PEXPIRE', p .. 'attached:' .. id, 86400000)
local keptk = uk .. ':kept'
local seqs = redis.call('ZRANGE', keptk, 0, -1)
if #seqs > 0 then
  out[3] = tonumber(seqs[1]) - 1
  for _, s in ipairs(seqs) do
    local e = redis.call('ZRANGEBYSCORE', uk .. ':log', s, s)
    if e[1] then out[#out + 1] = e[1] end
  end
  redis.call('DEL', keptk)
  redis.call('HINCRBY', p .. 'stats', 'kept', -#seqs)
end
if pid ~= '' then
  local pk = p .. 'pid:' .. pid
  redis.call('DEL', pk)
  redis.call('HSET', pk, 'user', id, 'offset', out[3], 'node', node, 'owner', owner, 'live', 1)
  redis.call('PEXPIRE', pk, liveTTL)
end
return out
`)

// resumeScript attaches a session as the continuation of pid and returns every logged message
// after the offset, in the same atomic step as attachScript. A pid still live on a node (the
// client came back before that node noticed, or the node died) is taken over: that node is
// told to close the old connection.
// ARGV: p, now, node, pid, offset, owner, size, maxBytes, ttl, rec, maxSessions, liveTTL.
// Returns {"ok", seqNow, from, userId, gen, entries...} or {"cannot"} / {"toomany"}.
var resumeScript = redis.NewScript(prelude + `
local node, pid, offset, owner = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local size, maxBytes, ttl, rec = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local maxSessions, liveTTL = tonumber(ARGV[11]), tonumber(ARGV[12])
local pk = p .. 'pid:' .. pid
local r = redis.call('HMGET', pk, 'user', 'offset', 'node', 'owner', 'live')
if not r[1] then return {'cannot'} end
redis.call('DEL', pk)
local id = r[1]
local uk = ukey(id)
if r[5] == '1' then
  local nodesk = uk .. ':nodes'
  if redis.call('HINCRBY', nodesk, r[3], -1) <= 0 then redis.call('HDEL', nodesk, r[3]) end
  redis.call('PUBLISH', p .. 'node:' .. r[3], cjson.encode({op = 'kick', pid = pid, owner = r[4]}))
end
if redis.call('HEXISTS', uk, 'hash') == 0 then return {'cannot'} end
local seqNow = tonumber(redis.call('GET', p .. 'seq') or '0')
local from = r[2]
if offset ~= '' then
  if tonumber(offset) > seqNow then return {'cannot'} end
  from = offset
end
prune(uk, size, maxBytes, ttl, rec)
if tonumber(from) < tonumber(redis.call('HGET', uk, 'pruned') or '0') then return {'cannot'} end
if maxSessions > 0 and live(uk, id) >= maxSessions then return {'toomany'} end
redis.call('HINCRBY', uk .. ':nodes', node, 1)
redis.call('SADD', p .. 'online', id)
local out = {'ok', seqNow, tonumber(from), id, redis.call('HGET', uk, 'gen') or '0'}
for _, e in ipairs(redis.call('ZRANGEBYSCORE', uk .. ':log', '(' .. from, '+inf')) do
  out[#out + 1] = e
end
-- Nothing is kept any more: what is past the offset is in the replay, and the client has the
-- rest (a session that never wrote it may have marked it kept).
local n = redis.call('ZCARD', uk .. ':kept')
if n > 0 then
  redis.call('DEL', uk .. ':kept')
  redis.call('HINCRBY', p .. 'stats', 'kept', -n)
end
redis.call('HSET', pk, 'user', id, 'offset', from, 'node', node, 'owner', owner, 'live', 1)
redis.call('PEXPIRE', pk, liveTTL)
return out
`)

// releaseScript uncounts a session that ended and, when it may resume, turns its pid record
// into a resume record that expires after the recovery window. A session taken over by a
// resumed connection (the record has another owner) changes nothing: the taker did it; nor
// does the count of one that a disconnect uncounted already (its gen is past). The messages
// the session took but never wrote (seqs from..to; from 0: none) are marked kept when the user
// has no live session left, as keepScript marks what no session took; otherwise they are
// published to the nodes with live sessions of the user ("unwritten", with the sequence now),
// whose sessions that came after them, and before this release, get them (the same client
// back before its old connection was seen dead).
// ARGV: p, now, node, id, pid, owner, resumable ("1"/"0"), windowMs, startAt, gen, from, to.
var releaseScript = redis.NewScript(prelude + `
local node, id, pid, owner = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local uk = ukey(id)
local pk = p .. 'pid:' .. pid
redis.call('ZREM', p .. 'attached:' .. id, owner)
if pid ~= '' then
  local o = redis.call('HGET', pk, 'owner')
  if o and o ~= owner then return 0 end
end
local nodesk = uk .. ':nodes'
if (redis.call('HGET', uk, 'gen') or '0') == ARGV[10] then
  if redis.call('HINCRBY', nodesk, node, -1) <= 0 then redis.call('HDEL', nodesk, node) end
end
if redis.call('HLEN', nodesk) == 0 then redis.call('SREM', p .. 'online', id) end
if ARGV[11] ~= '0' and redis.call('HEXISTS', uk, 'hash') == 1 then
  -- What another session's end handed over already reached whoever it could then (many
  -- sessions of a user may end at once with the same messages unwritten).
  local handedk = p .. 'handed:' .. id
  local entries, seqs = {}, {}
  local logged = redis.call('ZRANGEBYSCORE', uk .. ':log', ARGV[11], ARGV[12], 'WITHSCORES')
  for i = 1, #logged, 2 do
    if not redis.call('ZSCORE', handedk, logged[i + 1]) then
      entries[#entries + 1] = logged[i]
      seqs[#seqs + 1] = logged[i + 1]
    end
  end
  local n, nodes = live(uk, id)
  -- With sessions live, only those that attached after the first of them were not offered
  -- them; those there before got them, and hand them over at their own end if they never
  -- wrote them either.
  local since = n == 0
  if not since and #seqs > 0 then
    for _, o in ipairs(redis.call('ZRANGEBYSCORE', p .. 'attached:' .. id, seqs[1], '+inf')) do
      local on = string.match(o, '^(.*):%d+$')
      if on and listening(on) then
        since = true
        break
      end
    end
  end
  if since and #seqs > 0 then
    for _, s in ipairs(seqs) do redis.call('ZADD', handedk, s, s) end
    redis.call('PEXPIRE', handedk, math.max(tonumber(ARGV[8]), 1000))
    if n == 0 then
      for _, s in ipairs(seqs) do
        if redis.call('ZADD', uk .. ':kept', s, s) == 1 then
          redis.call('HINCRBY', p .. 'stats', 'kept', 1)
          redis.call('HINCRBY', p .. 'stats', 'buffered', 1)
        end
      end
    else
      local at = tonumber(redis.call('GET', p .. 'seq') or '0')
      local msg = cjson.encode({op = 'unwritten', user = id, entries = entries, seq = at})
      for _, on in ipairs(nodes) do redis.call('PUBLISH', p .. 'node:' .. on, msg) end
    end
  end
end
if pid ~= '' then
  local window = tonumber(ARGV[8])
  if ARGV[7] == '1' and window > 0 and redis.call('HEXISTS', uk, 'hash') == 1 then
    local off = redis.call('HGET', pk, 'offset') or ARGV[9]
    redis.call('HSET', pk, 'user', id, 'offset', off, 'node', node, 'owner', owner, 'live', 0)
    redis.call('PEXPIRE', pk, window)
  else
    redis.call('DEL', pk)
  end
end
return 1
`)

// unregisterScript removes a user and what is kept for it, and tells every node to close the
// user's sessions. ARGV: p, now, id. Returns 1 when the user existed.
var unregisterScript = redis.NewScript(prelude + `
local id = ARGV[3]
local uk = ukey(id)
if redis.call('HEXISTS', uk, 'hash') == 0 then return 0 end
local n = redis.call('ZCARD', uk .. ':kept')
if n > 0 then redis.call('HINCRBY', p .. 'stats', 'kept', -n) end
redis.call('DEL', uk, uk .. ':log', uk .. ':kept', uk .. ':nodes', p .. 'handed:' .. id, p .. 'attached:' .. id)
redis.call('SREM', p .. 'users', id)
redis.call('SREM', p .. 'online', id)
redis.call('PUBLISH', p .. 'all', cjson.encode({op = 'unregister', user = id}))
return 1
`)

// disconnectScript tells every node to close the user's sessions and returns how many live
// sessions it has (-1: unknown user). It uncounts them at once, as the memory engine drops
// them: a send that follows finds the user without a session and keeps the message, where it
// would otherwise be published to sessions about to close and lost. Their release leaves the
// counts alone: it carries the gen of its attach, which this moves past.
// ARGV: p, now, id.
var disconnectScript = redis.NewScript(prelude + `
local id = ARGV[3]
local uk = ukey(id)
if redis.call('HEXISTS', uk, 'hash') == 0 then return -1 end
local n = live(uk, id)
redis.call('HINCRBY', uk, 'gen', 1)
redis.call('DEL', uk .. ':nodes')
redis.call('SREM', p .. 'online', id)
redis.call('PUBLISH', p .. 'all', cjson.encode({op = 'disconnect', user = id}))
return n
`)

// presenceScript re-counts this node's sessions after Redis came back (it may have restarted
// and lost them) and keeps the sequence from going back below what the node has seen, so that
// numbers stay increasing for the sessions and clients holding offsets.
// Messages after each user's replay point stop being kept: the node replays them to the
// user's sessions.
// ARGV: p, now, node, maxSeq, gap, then triples of (userId, count, replay point).
var presenceScript = redis.NewScript(prelude + `
local node = ARGV[3]
local maxSeq, gap = tonumber(ARGV[4]), tonumber(ARGV[5])
local cur = tonumber(redis.call('GET', p .. 'seq') or '0')
if cur < maxSeq then redis.call('SET', p .. 'seq', maxSeq + gap) end
for i = 6, #ARGV, 3 do
  local uk = ukey(ARGV[i])
  redis.call('HSET', uk .. ':nodes', node, ARGV[i + 1])
  redis.call('SADD', p .. 'online', ARGV[i])
  local n = redis.call('ZREMRANGEBYSCORE', uk .. ':kept', '(' .. ARGV[i + 2], '+inf')
  if n > 0 then redis.call('HINCRBY', p .. 'stats', 'kept', -n) end
end
return 1
`)

// sweepScript prunes a slice of the users (SSCAN from a cursor), so that messages of users
// nobody sends to or connects as any more still expire (and leave the "kept" count) like in the
// memory engine, without a pass over every user at once.
// ARGV: p, now, cursor, count, size, maxBytes, ttl, rec. Returns the next cursor ("0": done).
var sweepScript = redis.NewScript(prelude + `
local size, maxBytes, ttl, rec = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local r = redis.call('SSCAN', p .. 'users', ARGV[3], 'COUNT', ARGV[4])
for _, id in ipairs(r[2]) do
  prune(ukey(id), size, maxBytes, ttl, rec)
end
return r[1]
`)
