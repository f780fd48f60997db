'use strict';
// A small Socket.IO 4 server with the Redis adapter, speaking the bench's
// protocol with the chat's event names, ack shapes and tokens, so the same load
// generator can drive it behind the same nginx config:
//   POST /api/auth/register {username, password}      201 {user, token}
//   POST /api/rooms {name, title?}                    201 room (the creator joins)
//   POST /api/rooms/{name}/members                    200 room (join a public room)
//   connect with auth {token}    the signed token is checked and its user read
//   join {room}                  joins a public room if needed; ack {ok: true, room}
//   send {room, body, client_id} ack {ok: true, message}; `message` to the room
//   sync {room, after, limit?}   ack {ok: true, messages, has_more}
//   GET /healthz                 200 with X-Instance
// STORE=postgres (the default) keeps everything in the chat's own PostgreSQL
// tables (store-postgres.js): the fair peer. STORE=redis is the first, lighter
// mode (store-redis.js): messages in Redis, no users or memberships.
const http = require('http');
const { Server } = require('socket.io');
const { createAdapter, createShardedAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');
const { postgresStore, StoreError } = require('./store-postgres');
const { redisStore } = require('./store-redis');
const { signer, TokenError } = require('./token');

const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || '127.0.0.1';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379/0';
const INSTANCE_ID = process.env.INSTANCE_ID || `node-${process.pid}`;
const STORE = process.env.STORE || 'postgres';
const TOKEN_TTL_SECONDS = Number(process.env.TOKEN_TTL_SECONDS || 7 * 24 * 3600);
const NAME = /^[a-z0-9_-]{1,64}$/;
// ADAPTER=sharded: the adapter's sharded mode (SSUBSCRIBE/SPUBLISH, one Redis
// channel per room); classic (the default): one channel every instance reads.
const ADAPTER = process.env.ADAPTER || 'classic';

function error(code, message) {
  return { error: { code, message } };
}

const STATUS = { validation_error: 422, unauthorized: 401, forbidden: 403, not_found: 404,
  conflict: 409, unavailable: 503 };

function failure(err) {
  if (err instanceof StoreError || err instanceof TokenError) {
    return error(err.code || 'unauthorized', err.message);
  }
  return error('unavailable', 'The database is unavailable; try again shortly.');
}

function validRoom(data) {
  return data && typeof data.room === 'string' && NAME.test(data.room);
}

function readJson(req, limit = 65536) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) reject(new StoreError('validation_error', 'The body is too large.'));
      else chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(size ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {});
      } catch (err) {
        reject(new StoreError('validation_error', 'The body is not JSON.'));
      }
    });
    req.on('error', reject);
  });
}

async function main() {
  const redis = createClient({ url: REDIS_URL });
  const sub = redis.duplicate();
  await Promise.all([redis.connect(), sub.connect()]);
  const store = STORE === 'redis' ? redisStore(redis) : postgresStore(process.env.DATABASE_URL);
  const tokens = signer(process.env.SECRET_KEY || 'bench-secret');

  async function userFor(token) {
    const claims = tokens.check(token, TOKEN_TTL_SECONDS);
    const user = claims && Number.isInteger(claims.uid) ? await store.user(claims.uid) : null;
    if (!user) throw new TokenError("The token's user no longer exists.");
    return user;
  }

  async function rest(req) {
    const path = req.url.split('?')[0];
    if (req.method !== 'POST') throw new StoreError('not_found', 'Not found.');
    const body = await readJson(req);
    if (path === '/api/auth/register') {
      if (typeof body.username !== 'string' || !/^[a-z0-9_]{3,32}$/.test(body.username)
          || typeof body.password !== 'string' || body.password.length < 8) {
        throw new StoreError('validation_error', 'username and password are required.');
      }
      const user = await store.register(body.username, body.password);
      return [201, { user, token: tokens.issue({ uid: Number(user.id) }) }];
    }
    const auth = (req.headers.authorization || '').replace(/^Bearer\s+/i, '');
    const user = await userFor(auth);
    if (path === '/api/rooms') {
      if (typeof body.name !== 'string' || !NAME.test(body.name)) {
        throw new StoreError('validation_error', 'name is required.');
      }
      return [201, await store.createRoom(user, body.name, body.title)];
    }
    const join = path.match(/^\/api\/rooms\/([a-z0-9_-]{1,64})\/members$/);
    if (join) return [200, await store.joinRoom(user, join[1])];
    throw new StoreError('not_found', 'Not found.');
  }

  const httpServer = http.createServer((req, res) => {
    res.setHeader('X-Instance', INSTANCE_ID);
    res.setHeader('Content-Type', 'application/json');
    if (req.url === '/healthz' || req.url === '/readyz') {
      res.writeHead(200);
      res.end('{"status":"ok"}');
      return;
    }
    if (req.url.startsWith('/socket.io/')) return; // engine.io answers these
    rest(req).then(([status, body]) => {
      res.writeHead(status);
      res.end(JSON.stringify(body));
    }, (err) => {
      const body = failure(err);
      res.writeHead(STATUS[body.error.code] || 500);
      res.end(JSON.stringify(body));
    });
  });
  const io = new Server(httpServer, {
    adapter: ADAPTER === 'sharded'
      ? createShardedAdapter(redis, sub, { channelPrefix: 'bench-node' })
      : createAdapter(redis, sub, { key: 'bench-node' }),
    pingInterval: 20000,
    pingTimeout: 20000,
    cors: { origin: '*' },
  });
  io.use((socket, next) => {
    const token = (socket.handshake.auth && socket.handshake.auth.token)
      || socket.handshake.query.token;
    userFor(token).then((user) => {
      socket.data.user = user;
      next();
    }, (err) => {
      const refused = new Error('unauthorized');
      refused.data = failure(err);
      next(refused);
    });
  });

  io.on('connection', (socket) => {
    const { user } = socket.data;

    socket.on('join', async (data, ack) => {
      if (typeof ack !== 'function') return;
      if (!validRoom(data)) return ack(error('validation_error', 'room is required.'));
      try {
        const room = await store.joinRoom(user, data.room);
        socket.join(`room:${data.room}`);
        ack({ ok: true, room });
      } catch (err) {
        ack(failure(err));
      }
    });

    socket.on('leave', (data, ack) => {
      if (validRoom(data)) socket.leave(`room:${data.room}`);
      if (typeof ack === 'function') ack({ ok: true });
    });

    socket.on('send', async (data, ack) => {
      if (typeof ack !== 'function') return;
      const body = data && typeof data.body === 'string' ? data.body.trim() : '';
      if (!validRoom(data) || !body || body.length > 4000) {
        return ack(error('validation_error', 'room and body are required.'));
      }
      const clientId = typeof data.client_id === 'string' && data.client_id.length <= 64
        ? data.client_id : null;
      try {
        const { message, created } = await store.send(user, data.room, body, clientId);
        if (created) io.to(`room:${data.room}`).emit('message', message);
        ack({ ok: true, message });
      } catch (err) {
        ack(failure(err));
      }
    });

    socket.on('sync', async (data, ack) => {
      if (typeof ack !== 'function') return;
      if (!validRoom(data) || !Number.isInteger(data.after)) {
        return ack(error('validation_error', 'room and after are required.'));
      }
      const limit = Number.isInteger(data.limit) ? Math.min(Math.max(data.limit, 1), 100) : 100;
      try {
        ack({ ok: true, ...await store.sync(user, data.room, data.after, limit) });
      } catch (err) {
        ack(failure(err));
      }
    });

    socket.onAny((event, ...args) => {
      if (['join', 'leave', 'send', 'sync'].includes(event)) return;
      const ack = args[args.length - 1];
      if (typeof ack === 'function') ack(error('bad_request', `Unknown event ${event}.`));
    });
  });

  // The chat's gunicorn listens with the same backlog (app/gunicorn_conf.py).
  httpServer.listen({ port: PORT, host: HOST, backlog: 4096 }, () => {
    console.log(`node peer ${INSTANCE_ID} on ${HOST}:${PORT} (store ${STORE}, redis ${REDIS_URL})`);
  });
  const stop = () => {
    io.close();
    Promise.allSettled([redis.quit(), sub.quit(), store.close()]).then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
