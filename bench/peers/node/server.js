'use strict';
// A minimal Socket.IO 4 server with the Redis adapter, speaking the bench's
// protocol with the chat's event names and ack shapes, so the same load
// generator can drive it behind the same nginx config:
//   connect with auth {token}   accepted and ignored
//   join {room}                 ack {ok: true, room: {name}}
//   send {room, body, client_id} ack {ok: true, message}; `message` to the room
//   sync {room, after, limit?}  ack {ok: true, messages, has_more}
//   GET /healthz                200 with X-Instance
// A send costs one Redis round trip (a Lua script: the room's next id, the
// message kept for sync, client_id made idempotent), standing in for the
// chat's database write; nothing touches a disk.
const http = require('http');
const { Server } = require('socket.io');
const { createAdapter, createShardedAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || '127.0.0.1';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379/0';
const INSTANCE_ID = process.env.INSTANCE_ID || `node-${process.pid}`;
// ADAPTER=sharded: the adapter's sharded mode (SSUBSCRIBE/SPUBLISH, one Redis
// channel per room); classic (the default): one channel every instance reads.
const ADAPTER = process.env.ADAPTER || 'classic';
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

function error(code, message) {
  return { error: { code, message } };
}

function validRoom(data) {
  return data && typeof data.room === 'string' && data.room.length > 0 && data.room.length <= 80;
}

async function main() {
  const redis = createClient({ url: REDIS_URL });
  const sub = redis.duplicate();
  await Promise.all([redis.connect(), sub.connect()]);

  const httpServer = http.createServer((req, res) => {
    res.setHeader('X-Instance', INSTANCE_ID);
    if (req.url === '/healthz' || req.url === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"status":"ok"}');
    } else {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(error('not_found', 'Not found.')));
    }
  });
  const io = new Server(httpServer, {
    adapter: ADAPTER === 'sharded'
      ? createShardedAdapter(redis, sub, { channelPrefix: 'bench-node' })
      : createAdapter(redis, sub, { key: 'bench-node' }),
    pingInterval: 20000,
    pingTimeout: 20000,
    cors: { origin: '*' },
  });
  io.use((socket, next) => next()); // the token is accepted and ignored

  io.on('connection', (socket) => {
    const author = { username: 'bench', display_name: 'bench' };

    socket.on('join', (data, ack) => {
      if (typeof ack !== 'function') return;
      if (!validRoom(data)) return ack(error('validation_error', 'room is required.'));
      socket.join(`room:${data.room}`);
      ack({ ok: true, room: { name: data.room } });
    });

    socket.on('leave', (data, ack) => {
      if (validRoom(data)) socket.leave(`room:${data.room}`);
      if (typeof ack === 'function') ack({ ok: true });
    });

    socket.on('send', async (data, ack) => {
      if (typeof ack !== 'function') return;
      if (!validRoom(data) || typeof data.body !== 'string' || !data.body.trim()) {
        return ack(error('validation_error', 'room and body are required.'));
      }
      const clientId = typeof data.client_id === 'string' ? data.client_id : null;
      const message = {
        id: 0, room: data.room, author, body: data.body.trim(), client_id: clientId,
        created_at: new Date().toISOString(), edited_at: null, deleted: false,
      };
      try {
        const stored = JSON.stringify(message);
        const [id, created] = await redis.eval(SEND_SCRIPT, {
          keys: [`seq:${data.room}`, `hist:${data.room}`, `cid:${data.room}`],
          arguments: [clientId || '', stored, String(HISTORY)],
        });
        message.id = Number(id);
        if (created) io.to(`room:${data.room}`).emit('message', message);
        ack({ ok: true, message });
      } catch (err) {
        ack(error('unavailable', String(err && err.message)));
      }
    });

    socket.on('sync', async (data, ack) => {
      if (typeof ack !== 'function') return;
      if (!validRoom(data) || !Number.isInteger(data.after)) {
        return ack(error('validation_error', 'room and after are required.'));
      }
      const limit = Number.isInteger(data.limit) ? Math.min(Math.max(data.limit, 1), 100) : 100;
      try {
        const rows = await redis.zRangeByScore(`hist:${data.room}`, `(${data.after}`, '+inf', {
          LIMIT: { offset: 0, count: limit + 1 },
        });
        const messages = rows.slice(0, limit).map((row) => {
          const bar = row.indexOf('|');
          const message = JSON.parse(row.slice(bar + 1));
          message.id = Number(row.slice(0, bar));
          return message;
        });
        ack({ ok: true, messages, has_more: rows.length > limit });
      } catch (err) {
        ack(error('unavailable', String(err && err.message)));
      }
    });

    socket.onAny((event, ...args) => {
      if (['join', 'leave', 'send', 'sync'].includes(event)) return;
      const ack = args[args.length - 1];
      if (typeof ack === 'function') ack(error('bad_request', `Unknown event ${event}.`));
    });
  });

  httpServer.listen(PORT, HOST, () => {
    console.log(`node peer ${INSTANCE_ID} on ${HOST}:${PORT} (redis ${REDIS_URL})`);
  });
  const stop = () => {
    io.close();
    Promise.allSettled([redis.quit(), sub.quit()]).then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
