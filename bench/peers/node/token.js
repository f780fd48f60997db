'use strict';
// Signed bearer tokens in the format of itsdangerous' URLSafeTimedSerializer
// (what the chat issues: app/auth.py), so the peer checks a token exactly the
// way the chat does: an HMAC-SHA1 over "payload.timestamp" with a key derived
// from SECRET_KEY and the salt, and an age limit.
//   payload   base64url(JSON), or "." + base64url(zlib(JSON)) when compressed
//   timestamp base64url(seconds since the epoch, big-endian, no leading zeros)
const crypto = require('crypto');
const zlib = require('zlib');

const SALT = 'auth-token';

function b64(buf) {
  return Buffer.from(buf).toString('base64url');
}

function fromB64(text) {
  return Buffer.from(text, 'base64url');
}

function intBytes(n) {
  const bytes = [];
  for (let v = BigInt(n); v > 0n; v >>= 8n) bytes.unshift(Number(v & 0xffn));
  return Buffer.from(bytes);
}

class TokenError extends Error {}

function signer(secret) {
  // itsdangerous' default key derivation, "django-concat": sha1(salt + "signer" + secret).
  const key = crypto.createHash('sha1').update(SALT + 'signer' + secret).digest();
  const mac = (value) => crypto.createHmac('sha1', key).update(value).digest();

  function issue(data) {
    const value = `${b64(JSON.stringify(data))}.${b64(intBytes(Math.floor(Date.now() / 1000)))}`;
    return `${value}.${b64(mac(value))}`;
  }

  function check(token, maxAgeSeconds) {
    if (typeof token !== 'string') throw new TokenError('The token is not valid.');
    const cut = token.lastIndexOf('.');
    const value = token.slice(0, cut);
    const sig = fromB64(token.slice(cut + 1));
    const want = mac(value);
    if (cut < 0 || sig.length !== want.length || !crypto.timingSafeEqual(sig, want)) {
      throw new TokenError('The token is not valid.');
    }
    const dot = value.lastIndexOf('.');
    const stamp = fromB64(value.slice(dot + 1));
    let seconds = 0;
    for (const byte of stamp) seconds = seconds * 256 + byte;
    const age = Date.now() / 1000 - seconds;
    if (age < 0 || age > maxAgeSeconds) throw new TokenError('The token has expired; log in again.');
    let payload = value.slice(0, dot);
    let raw = payload.startsWith('.') ? zlib.inflateSync(fromB64(payload.slice(1)))
      : fromB64(payload);
    return JSON.parse(raw.toString('utf8'));
  }

  return { issue, check };
}

module.exports = { signer, TokenError };
