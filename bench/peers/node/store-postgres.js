'use strict';
// The chat's own PostgreSQL tables (users, rooms, memberships, messages, as its
// migrations create them), used through node-postgres the way a Node service
// would: a send is one transaction that takes the room's row lock, checks the
// client_id for idempotency under it and inserts, as app/chat does.
const crypto = require('crypto');
const { Pool } = require('pg');

class StoreError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const MESSAGE_COLUMNS = `m.id, m.body, m.client_id, m.created_at, m.edited_at,
  m.deleted_at IS NOT NULL AS deleted, u.username, u.display_name`;

function hashPassword(password) {
  // werkzeug's format, with the bench's cheap method (pbkdf2:sha256:1000).
  const salt = crypto.randomBytes(12).toString('base64url').slice(0, 16);
  return new Promise((resolve, reject) => {
    crypto.pbkdf2(password, salt, 1000, 32, 'sha256', (err, key) => (
      err ? reject(err) : resolve(`pbkdf2:sha256:1000$${salt}$${key.toString('hex')}`)));
  });
}

function postgresStore(url) {
  const pool = new Pool({ connectionString: url, max: 10 });
  pool.on('error', () => {}); // an idle client lost with a restart: the pool replaces it

  const message = (row, room) => ({
    id: Number(row.id), room, author: { username: row.username, display_name: row.display_name },
    body: row.body, client_id: row.client_id, created_at: row.created_at.toISOString(),
    edited_at: row.edited_at && row.edited_at.toISOString(), deleted: row.deleted,
    mentions: [], reactions: [],
  });

  async function user(id) {
    const { rows } = await pool.query(
      'SELECT id, username, display_name FROM users WHERE id = $1', [id]);
    return rows[0] || null;
  }

  async function register(username, password) {
    const { rows } = await pool.query(
      `INSERT INTO users (username, display_name, password_hash, created_at)
       VALUES ($1, $1, $2, now()) ON CONFLICT (username) DO NOTHING
       RETURNING id, username, display_name`, [username, await hashPassword(password)]);
    if (!rows[0]) throw new StoreError('conflict', `The username '${username}' is taken.`);
    return rows[0];
  }

  async function createRoom(owner, name, title) {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const { rows } = await client.query(
        `INSERT INTO rooms (name, title, kind, created_at) VALUES ($1, $2, 'public', now())
         ON CONFLICT (name) DO NOTHING RETURNING id, name, title`, [name, title || '']);
      if (!rows[0]) throw new StoreError('conflict', `A room named '${name}' already exists.`);
      await client.query(
        'INSERT INTO memberships (room_id, user_id, joined_at) VALUES ($1, $2, now())',
        [rows[0].id, owner.id]);
      await client.query('COMMIT');
      return rows[0];
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      broken = !(err instanceof StoreError);
      throw err;
    } finally {
      client.release(broken); // a connection that failed is closed, not reused
    }
  }

  // Joins a public room (nothing changes for a member); a private room only for its members.
  async function joinRoom(member, name) {
    const { rows } = await pool.query(
      `WITH r AS (SELECT id, name, title, kind FROM rooms WHERE name = $1),
       j AS (INSERT INTO memberships (room_id, user_id, joined_at)
             SELECT id, $2, now() FROM r WHERE kind = 'public' ON CONFLICT DO NOTHING)
       SELECT id, name, title, kind = 'public' OR EXISTS (SELECT 1 FROM memberships
         WHERE room_id = r.id AND user_id = $2) AS member FROM r`, [name, member.id]);
    if (!rows[0] || !rows[0].member) throw new StoreError('not_found', `No room named '${name}'.`);
    const { id, title } = rows[0];
    return { id: Number(id), name, title };
  }

  async function why(member, name) {
    const { rows } = await pool.query('SELECT 1 FROM rooms WHERE name = $1', [name]);
    return rows[0] ? new StoreError('forbidden', `Join '${name}' first.`)
      : new StoreError('not_found', `No room named '${name}'.`);
  }

  // The room's id if `member` belongs to it.
  async function memberRoom(member, name, client = pool, lock = false) {
    const { rows } = await client.query(
      `SELECT r.id FROM rooms r JOIN memberships ms ON ms.room_id = r.id AND ms.user_id = $2
       WHERE r.name = $1${lock ? ' FOR UPDATE OF r' : ''}`, [name, member.id]);
    if (!rows[0]) throw await why(member, name);
    return rows[0].id;
  }

  async function send(author, name, body, clientId) {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      // The room's row lock serialises sends to one room (ids follow commit order).
      const roomId = await memberRoom(author, name, client, true);
      if (clientId !== null) {
        const { rows } = await client.query(
          `SELECT ${MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.author_id
           WHERE m.room_id = $1 AND m.author_id = $2 AND m.client_id = $3`,
          [roomId, author.id, clientId]);
        if (rows[0]) {
          await client.query('COMMIT');
          return { message: message(rows[0], name), created: false };
        }
      }
      const { rows } = await client.query(
        `INSERT INTO messages (room_id, author_id, body, client_id, created_at)
         VALUES ($1, $2, $3, $4, now()) RETURNING id, body, client_id, created_at, edited_at,
         false AS deleted`, [roomId, author.id, body, clientId]);
      await client.query('COMMIT');
      const row = { ...rows[0], username: author.username, display_name: author.display_name };
      return { message: message(row, name), created: true };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      broken = !(err instanceof StoreError);
      throw err;
    } finally {
      client.release(broken); // a connection that failed is closed, not reused
    }
  }

  async function sync(member, name, after, limit) {
    const roomId = await memberRoom(member, name);
    const { rows } = await pool.query(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.author_id
       WHERE m.room_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3`, [roomId, after, limit + 1]);
    return { messages: rows.slice(0, limit).map((r) => message(r, name)),
      has_more: rows.length > limit };
  }

  return { user, register, createRoom, joinRoom, memberRoom, send, sync,
    close: () => pool.end() };
}

module.exports = { postgresStore, StoreError };
