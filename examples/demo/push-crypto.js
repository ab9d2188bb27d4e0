// The user agent's side of Web Push message encryption (RFC 8291 on top of
// the aes128gcm content coding of RFC 8188), for the demo page: a plain ES
// module, no dependencies, WebCrypto only (browsers and Node 20).
//
// Why the page decrypts: with the local push service (kms-serve --push) the
// browser's own push stack is not involved, so the demo page plays the
// browser. It holds the user agent's ECDH key and auth secret, hands their
// public halves to the application server as a subscription's p256dh and
// auth, fetches the bodies the push service queued, and decrypts them here.
//
//   const keys = await createUserAgentKeys();
//   // subscription keys: b64urlEncode(keys.publicKey), b64urlEncode(keys.auth)
//   const body = new Uint8Array(await response.arrayBuffer());
//   const text = new TextDecoder().decode(await decryptPushMessage(body, keys));
//
// Every refusal is a PushDecryptError with a stable `code`: 'truncated',
// 'bad_header', 'too_many_records', 'decrypt_failed', 'bad_padding',
// 'bad_base64'. Messages say what was wrong and never carry key material.
//
// Private keys are non-extractable CryptoKeys: page script can use them but
// cannot read them. The byte copies of derived secrets this module has to
// hold for a moment are overwritten with zeros once they are no longer needed.

const subtle = globalThis.crypto.subtle;
const P256 = { name: 'ECDH', namedCurve: 'P-256' };

// salt (16) || rs (4) || idlen (1) || keyid (65): RFC 8291 section 4 puts the
// application server's uncompressed P-256 point in keyid, so the header of a
// Web Push message is always 86 bytes.
const SALT_LEN = 16;
const KEYID_LEN = 65;
const HEADER_LEN = SALT_LEN + 4 + 1 + KEYID_LEN;
const TAG_LEN = 16;
// The smallest record: an empty message is still its delimiter and the tag.
const MIN_RECORD_LEN = 1 + TAG_LEN;
// RFC 8188 section 2.1: "a record size smaller than 18 is invalid".
const MIN_RECORD_SIZE = 18;
const AUTH_LEN = 16;
const LAST_RECORD = 0x02;
const NOT_LAST_RECORD = 0x01;
// RFC 4648 section 5.
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const encoder = new TextEncoder();
const KEY_INFO_LABEL = encoder.encode('WebPush: info\0');
const CEK_INFO = encoder.encode('Content-Encoding: aes128gcm\0');
const NONCE_INFO = encoder.encode('Content-Encoding: nonce\0');

/** A push message (or base64url text) that cannot be read, with a stable code. */
export class PushDecryptError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'PushDecryptError';
    this.code = code;
  }
}

/**
 * A fresh user agent key pair and auth secret, as a browser makes for each
 * subscription (RFC 8291 sections 2 and 3.2).
 * @returns {Promise<{privateKey: CryptoKey, publicKey: Uint8Array, auth: Uint8Array}>}
 */
export async function createUserAgentKeys() {
  // extractable=false binds the private key only; WebCrypto always lets the
  // public key be exported, which is what the subscription needs.
  const pair = await subtle.generateKey(P256, false, ['deriveBits']);
  const publicKey = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
  const auth = globalThis.crypto.getRandomValues(new Uint8Array(AUTH_LEN));
  return { privateKey: pair.privateKey, publicKey, auth };
}

/**
 * The user agent keys from a known private key (a P-256 JWK with d, x and y)
 * and auth secret, for tests against published vectors. The private key is
 * imported non-extractable, as createUserAgentKeys makes it.
 * @returns {Promise<{privateKey: CryptoKey, publicKey: Uint8Array, auth: Uint8Array}>}
 */
export async function userAgentKeysFromJwk(privateJwk, auth) {
  if (privateJwk?.kty !== 'EC' || privateJwk.crv !== 'P-256' || !privateJwk.d) {
    throw new TypeError('userAgentKeysFromJwk: expected a P-256 private JWK (kty EC, crv P-256, with d)');
  }
  checkAuth(auth);
  const x = b64urlDecode(privateJwk.x);
  const y = b64urlDecode(privateJwk.y);
  if (x.length !== 32 || y.length !== 32) {
    throw new TypeError('userAgentKeysFromJwk: x and y must be 32 bytes each');
  }
  // Only the key itself: a JWK's own key_ops or ext could contradict ECDH use.
  const jwk = { kty: 'EC', crv: 'P-256', d: privateJwk.d, x: privateJwk.x, y: privateJwk.y };
  const privateKey = await subtle.importKey('jwk', jwk, P256, false, ['deriveBits']);
  const publicKey = concat(Uint8Array.of(0x04), x, y);
  return { privateKey, publicKey, auth: auth.slice() };
}

/**
 * Decrypts one Web Push message: `body` is the aes128gcm body exactly as the
 * application server POSTed it to the push service.
 * @param {Uint8Array} body
 * @param {{privateKey: CryptoKey, publicKey: Uint8Array, auth: Uint8Array}} keys
 * @returns {Promise<Uint8Array>} the plaintext, padding removed
 */
export async function decryptPushMessage(body, keys) {
  if (!(body instanceof Uint8Array)) throw new TypeError('decryptPushMessage: body must be a Uint8Array');
  if (!(keys?.publicKey instanceof Uint8Array) || keys.publicKey.length !== KEYID_LEN) {
    throw new TypeError('decryptPushMessage: keys.publicKey must be the 65-byte uncompressed P-256 point');
  }
  checkAuth(keys.auth);

  const { salt, asPublic, record } = parseHeader(body);
  const asKey = await importApplicationServerKey(asPublic);

  // RFC 8291 section 3.4. Each HKDF below is one HMAC-SHA-256 extract and
  // one expand block, which is exactly the spec's PRK_key/IKM and PRK/CEK/
  // NONCE steps, since no output is longer than 32 bytes.
  const ecdhSecret = new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: asKey }, keys.privateKey, 256));
  const keyInfo = concat(KEY_INFO_LABEL, keys.publicKey, asPublic);
  const ikm = await hkdf(ecdhSecret, keys.auth, keyInfo, 32);
  ecdhSecret.fill(0);
  const cekBytes = await hkdf(ikm, salt, CEK_INFO, 16);
  // A single record has sequence number 0, so the nonce is used as derived
  // (RFC 8188 section 2.3 XORs in the sequence number).
  const nonce = await hkdf(ikm, salt, NONCE_INFO, 12);
  ikm.fill(0);
  const cek = await subtle.importKey('raw', cekBytes, 'AES-GCM', false, ['decrypt']);
  cekBytes.fill(0);

  let padded;
  try {
    padded = new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: nonce, tagLength: 128 }, cek, record));
  } catch {
    // GCM says no more than "not authentic": wrong keys, wrong auth secret
    // and altered bytes all look the same from here.
    throw new PushDecryptError('decrypt_failed',
      'the message did not authenticate: it was encrypted for other keys or auth secret, or altered on the way');
  }
  try {
    return unpad(padded);
  } finally {
    // The padded buffer is a second copy of the message; only the result stays.
    padded.fill(0);
  }
}

/** base64url (RFC 4648 section 5), no padding. */
export function b64urlEncode(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += ALPHABET[(n >> 18) & 63] + ALPHABET[(n >> 12) & 63];
    if (i + 1 < bytes.length) out += ALPHABET[(n >> 6) & 63];
    if (i + 2 < bytes.length) out += ALPHABET[n & 63];
  }
  return out;
}

/** base64url (RFC 4648 section 5) without padding, to bytes; anything else is refused. */
export function b64urlDecode(text) {
  if (typeof text !== 'string') throw new PushDecryptError('bad_base64', 'not base64url: not a string');
  // 4n+1 characters would leave 6 bits, less than a byte: no encoder makes that.
  if (text.length % 4 === 1) {
    throw new PushDecryptError('bad_base64', `not base64url: ${text.length} characters is not a possible length`);
  }
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let j = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = ALPHABET.indexOf(text[i]);
    if (digit < 0) {
      // The position, not the character: the text may be a key.
      throw new PushDecryptError('bad_base64',
        `not base64url: the character at position ${i} is outside the alphabet A-Z a-z 0-9 - _ (no padding)`);
    }
    value = (value << 6) | digit;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (value >> bits) & 0xff;
      value &= (1 << bits) - 1;
    }
  }
  // The bits left over must be zero: each byte string has one spelling.
  if (value !== 0) {
    throw new PushDecryptError('bad_base64', 'not base64url: the last character has bits set that encode nothing');
  }
  return out;
}

// The RFC 8188 header as RFC 8291 section 4 restricts it, and the one record.
function parseHeader(body) {
  if (body.length < HEADER_LEN + MIN_RECORD_LEN) {
    throw new PushDecryptError('truncated',
      `the body is ${body.length} bytes; a Web Push message is at least ${HEADER_LEN + MIN_RECORD_LEN} ` +
      `(the ${HEADER_LEN}-byte header, then a record of a delimiter byte and a ${TAG_LEN}-byte tag)`);
  }
  const salt = body.subarray(0, SALT_LEN);
  const rs = ((body[16] << 24) | (body[17] << 16) | (body[18] << 8) | body[19]) >>> 0;
  const idlen = body[20];
  if (idlen !== KEYID_LEN) {
    throw new PushDecryptError('bad_header',
      `the header's keyid length (idlen) is ${idlen}; Web Push needs 65, the application server's public key`);
  }
  const asPublic = body.subarray(21, HEADER_LEN);
  if (asPublic[0] !== 0x04) {
    throw new PushDecryptError('bad_header',
      "the header's keyid is not an uncompressed P-256 point (its first byte must be 0x04)");
  }
  if (rs < MIN_RECORD_SIZE) {
    throw new PushDecryptError('bad_header', `the header's record size (rs) is ${rs}; RFC 8188 needs at least 18`);
  }
  const record = body.subarray(HEADER_LEN);
  // RFC 8291 section 4: a push message is one record, so everything after
  // the header has to fit in rs. More would be a second record, which a
  // browser does not accept either.
  if (record.length > rs) {
    throw new PushDecryptError('too_many_records',
      `the ciphertext is ${record.length} bytes, more than the record size of ${rs}: ` +
      'that is more than one record, and a push message is a single record');
  }
  return { salt, asPublic, record };
}

// RFC 8291 section 8: a public key that is not on the curve could leak the
// private key through ECDH, so it is refused here; importKey checks it.
async function importApplicationServerKey(asPublic) {
  try {
    return await subtle.importKey('raw', asPublic, P256, true, []);
  } catch {
    throw new PushDecryptError('bad_header', "the header's keyid is not a valid P-256 public key (not on the curve)");
  }
}

// RFC 8188 section 2: zero padding, preceded by the delimiter, 0x02 in the
// last record. RFC 8291 section 4: any other delimiter discards the message.
function unpad(padded) {
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 0) {
    throw new PushDecryptError('bad_padding', 'the decrypted record has no padding delimiter, only zeros');
  }
  if (padded[end] === NOT_LAST_RECORD) {
    throw new PushDecryptError('bad_padding',
      'the padding delimiter is 0x01, which marks a record that is not the last; a push message is one record');
  }
  if (padded[end] !== LAST_RECORD) {
    throw new PushDecryptError('bad_padding', 'the decrypted record does not end with the padding delimiter 0x02');
  }
  return padded.slice(0, end);
}

// HKDF-SHA-256 (RFC 5869) to `length` bytes. The input is imported as a
// non-extractable key; the caller overwrites its own copy.
async function hkdf(input, salt, info, length) {
  const key = await subtle.importKey('raw', input, 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, key, length * 8));
}

function checkAuth(auth) {
  if (!(auth instanceof Uint8Array) || auth.length !== AUTH_LEN) {
    throw new TypeError('the auth secret must be a Uint8Array of 16 bytes (RFC 8291 section 3.2)');
  }
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
