'use strict';
// The peer's first mode, kept for reference: messages live in Redis only (a
// Lua script per send: the room's next id, the message kept for sync, the
// client_id made idempotent); no membership check, nothing touches a disk.
const { StoreError } = require('./store-postgres');

const HISTORY = 5000;

// KEYS: seq, history (zset), client ids (hash). ARGV: client_id, json, history size.
// Returns [id, created]; the id of the first send for a repeated client_id.
const SEND_SCRIPT = `
if ARGV[1] ~= '' then
  local seen = redis.call('HGET', KEYS[3], ARGV[1])
  if seen then return {tonumber(seen), 0} end
end
local id = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], id, id .. '|' .. ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[3]) - 1)
if ARGV[1] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], id) end
return {id, 1}
`;

function redisStore(redis) {
  const author = (id) => ({ id, username: `u${id}`, display_name: `u${id}` });

  async function register(username) {
    const id = await redis.incr('bench-node:users');
    return { id, username, display_name: username };
  }

  async function send(user, room, body, clientId) {
    const message = {
      id: 0, room, author: { username: user.username, display_name: user.display_name },
      body, client_id: clientId, created_at: new Date().toISOString(), edited_at: null,
      deleted: false, mentions: [], reactions: [],
    };
    const [id, created] = await redis.eval(SEND_SCRIPT, {
      keys: [`seq:${room}`, `hist:${room}`, `cid:${room}:${user.id}`],
      arguments: [clientId || '', JSON.stringify(message), String(HISTORY)],
    });
    message.id = Number(id);
    return { message, created: Boolean(created) };
  }

  async function sync(user, room, after, limit) {
    const rows = await redis.zRangeByScore(`hist:${room}`, `(${after}`, '+inf', {
      LIMIT: { offset: 0, count: limit + 1 },
    });
    const messages = rows.slice(0, limit).map((row) => {
      const bar = row.indexOf('|');
      const message = JSON.parse(row.slice(bar + 1));
      message.id = Number(row.slice(0, bar));
      return message;
    });
    return { messages, has_more: rows.length > limit };
  }

  return {
    user: async (id) => author(id), // the token is checked; no user is read
    register,
    createRoom: async (owner, name, title) => ({ id: 0, name, title: title || '' }),
    joinRoom: async (member, name) => ({ id: 0, name, title: '' }),
    memberRoom: async () => 0,
    send,
    sync,
    close: async () => {},
  };
}

module.exports = { redisStore, StoreError };
