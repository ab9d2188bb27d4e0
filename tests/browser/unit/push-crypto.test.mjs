// The demo page's Web Push decryption (examples/demo/push-crypto.js): the
// RFC 8291 worked example, round trips through an encrypter written here from
// the RFC's HMAC formulas (the module uses WebCrypto's HKDF, so the two are
// independent), and every refusal with its stable code.
//
//   node --test tests/browser/unit/

import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  PushDecryptError,
  b64urlDecode,
  b64urlEncode,
  createUserAgentKeys,
  decryptPushMessage,
  userAgentKeysFromJwk,
} from '../../../examples/demo/push-crypto.js';

const subtle = globalThis.crypto.subtle;
const P256 = { name: 'ECDH', namedCurve: 'P-256' };
const utf8 = new TextEncoder();

// RFC 8291 section 5 ("Push Message Encryption Example") and Appendix A
// ("Intermediate Values for Encryption"), https://www.rfc-editor.org/rfc/rfc8291.
// The RFC wraps long values over lines; the pieces below are its lines, joined.
const RFC8291 = {
  plaintext: 'When I grow up, I want to be a watermelon',
  uaPrivate: 'q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94',
  uaPublic: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcx' + 'aOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
  asPrivate: 'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw',
  asPublic: 'BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIg' + 'Dll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8',
  authSecret: 'BTBZMqHH6r4Tts7J_aSIgg',
  salt: 'DGv6ra1nlYgDCS1FRnbzlw',
  // Section 5, the body as POSTed.
  body:
    'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml' +
    'mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT' +
    'pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
  // Appendix A, the same body as its two halves.
  header: 'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z' + '9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml' + 'mlMoZIIgDll6e3vCYLocInmYWAmS6Tlz' + 'AC8wEqKK6PBru3jl7A8',
  ciphertext: '8pfeW0KbunFT06SuDKoJH9Ql87S1QUrd' + 'irN6GcG7sFz1y1sqLgVi1VhjVkHsUoEs' + 'bI_0LpXMuGvnzQ',
};

// A private JWK from a raw scalar and its uncompressed public point.
function jwkFrom(privateB64, publicB64) {
  const point = b64urlDecode(publicB64);
  return {
    kty: 'EC',
    crv: 'P-256',
    d: privateB64,
    x: b64urlEncode(point.subarray(1, 33)),
    y: b64urlEncode(point.subarray(33, 65)),
  };
}

function rfcUserAgentKeys() {
  return userAgentKeysFromJwk(jwkFrom(RFC8291.uaPrivate, RFC8291.uaPublic), b64urlDecode(RFC8291.authSecret));
}

// --- The application server's side, from RFC 8291 section 3.4 literally. ---

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function hmac(key, data) {
  const k = await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', k, data));
}

function uint32(n) {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

async function newSender() {
  const pair = await subtle.generateKey(P256, false, ['deriveBits']);
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(await subtle.exportKey('raw', pair.publicKey)) };
}

// The record's plaintext: the message, a delimiter, then zeros.
function pad(message, { delimiter = 0x02, zeros = 0 } = {}) {
  const bytes = typeof message === 'string' ? utf8.encode(message) : message;
  return concat(bytes, Uint8Array.of(delimiter), new Uint8Array(zeros));
}

// One aes128gcm record for `ua` (publicKey, auth), header included. `record`
// is the plaintext with its delimiter and padding already in place, so tests
// can also build records a real sender would not.
async function encryptRecord(ua, record, { rs = 4096, sender, salt } = {}) {
  sender ??= await newSender();
  salt ??= globalThis.crypto.getRandomValues(new Uint8Array(16));
  const uaKey = await subtle.importKey('raw', ua.publicKey, P256, true, []);
  const ecdhSecret = new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: uaKey }, sender.privateKey, 256));

  const prkKey = await hmac(ua.auth, ecdhSecret);
  const keyInfo = concat(utf8.encode('WebPush: info\0'), ua.publicKey, sender.publicKey);
  const ikm = await hmac(prkKey, concat(keyInfo, [0x01]));
  const prk = await hmac(salt, ikm);
  const cek = (await hmac(prk, concat(utf8.encode('Content-Encoding: aes128gcm\0'), [0x01]))).slice(0, 16);
  const nonce = (await hmac(prk, concat(utf8.encode('Content-Encoding: nonce\0'), [0x01]))).slice(0, 12);

  const key = await subtle.importKey('raw', cek, 'AES-GCM', false, ['encrypt']);
  const ciphertext = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce, tagLength: 128 }, key, record));
  return concat(salt, uint32(rs), [65], sender.publicKey, ciphertext);
}

async function assertRefused(promise, code, message) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof PushDecryptError, `expected a PushDecryptError, got ${err}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

function assertBadBase64(text, message) {
  assert.throws(() => b64urlDecode(text), (err) => {
    assert.ok(err instanceof PushDecryptError, `expected a PushDecryptError, got ${err}`);
    assert.equal(err.code, 'bad_base64');
    assert.match(err.message, message);
    return true;
  });
}

// A copy of `body` with `change` applied to it.
function altered(body, change) {
  const copy = body.slice();
  change(copy);
  return copy;
}

const text = (bytes) => new TextDecoder().decode(bytes);

// --- The RFC's example. ---

test('the RFC 8291 example body decrypts to its plaintext', async () => {
  const keys = await rfcUserAgentKeys();
  assert.deepEqual(keys.publicKey, b64urlDecode(RFC8291.uaPublic));
  assert.equal(keys.privateKey.extractable, false);

  const plaintext = await decryptPushMessage(b64urlDecode(RFC8291.body), keys);
  assert.equal(text(plaintext), RFC8291.plaintext);
});

test("the RFC 8291 values agree with each other: body = header || ciphertext", () => {
  const body = b64urlDecode(RFC8291.body);
  assert.equal(body.length, 144);
  assert.deepEqual(body, concat(b64urlDecode(RFC8291.header), b64urlDecode(RFC8291.ciphertext)));
  assert.deepEqual(body.subarray(0, 16), b64urlDecode(RFC8291.salt));
  assert.deepEqual(body.subarray(21, 86), b64urlDecode(RFC8291.asPublic));
});

test("this file's encrypter reproduces the RFC 8291 body byte for byte", async () => {
  // Pins the encrypter the round trips below rely on.
  const ua = { publicKey: b64urlDecode(RFC8291.uaPublic), auth: b64urlDecode(RFC8291.authSecret) };
  const sender = {
    privateKey: await subtle.importKey('jwk', jwkFrom(RFC8291.asPrivate, RFC8291.asPublic), P256, false, ['deriveBits']),
    publicKey: b64urlDecode(RFC8291.asPublic),
  };
  const body = await encryptRecord(ua, pad(RFC8291.plaintext), { sender, salt: b64urlDecode(RFC8291.salt) });
  assert.equal(b64urlEncode(body), RFC8291.body);
});

// --- Round trips. ---

test('a message with padding after the delimiter decrypts, the padding removed', async () => {
  const keys = await createUserAgentKeys();
  const body = await encryptRecord(keys, pad('Dentist at 3', { zeros: 100 }));
  assert.equal(text(await decryptPushMessage(body, keys)), 'Dentist at 3');
});

test('an empty message, the smallest body (103 bytes), decrypts', async () => {
  const keys = await createUserAgentKeys();
  const body = await encryptRecord(keys, pad(''));
  assert.equal(body.length, 103);
  assert.equal((await decryptPushMessage(body, keys)).length, 0);
});

test('a record exactly rs bytes long is one record, and accepted', async () => {
  const keys = await createUserAgentKeys();
  const record = pad('fits', { zeros: 3 }); // 8 bytes, 24 with the tag
  const body = await encryptRecord(keys, record, { rs: 24 });
  assert.equal(text(await decryptPushMessage(body, keys)), 'fits');
});

// --- Refusals. ---

test('a changed ciphertext byte: decrypt_failed', async () => {
  const keys = await rfcUserAgentKeys();
  const body = altered(b64urlDecode(RFC8291.body), (b) => { b[100] ^= 0x01; });
  await assertRefused(decryptPushMessage(body, keys), 'decrypt_failed', /did not authenticate/);
});

test('the wrong auth secret: decrypt_failed', async () => {
  const keys = await rfcUserAgentKeys();
  keys.auth = altered(keys.auth, (a) => { a[0] ^= 0x80; });
  await assertRefused(decryptPushMessage(b64urlDecode(RFC8291.body), keys), 'decrypt_failed', /did not authenticate/);
});

test('another user agent key: decrypt_failed', async () => {
  const keys = await createUserAgentKeys();
  const body = await encryptRecord(keys, pad('for someone else'));
  const other = await createUserAgentKeys();
  other.auth = keys.auth;
  await assertRefused(decryptPushMessage(body, other), 'decrypt_failed', /did not authenticate/);
});

test('a body cut short: truncated', async () => {
  const keys = await rfcUserAgentKeys();
  const body = b64urlDecode(RFC8291.body);
  await assertRefused(decryptPushMessage(body.slice(0, 50), keys), 'truncated', /is 50 bytes/);
  // The whole header, but a record one byte too short to hold the tag and delimiter.
  await assertRefused(decryptPushMessage(body.slice(0, 86 + 16), keys), 'truncated', /is 102 bytes/);
});

test('idlen 64: bad_header', async () => {
  const keys = await rfcUserAgentKeys();
  const body = altered(b64urlDecode(RFC8291.body), (b) => { b[20] = 64; });
  await assertRefused(decryptPushMessage(body, keys), 'bad_header', /idlen\) is 64/);
});

test('a keyid that does not start with 0x04: bad_header', async () => {
  const keys = await rfcUserAgentKeys();
  const body = altered(b64urlDecode(RFC8291.body), (b) => { b[21] = 0x05; });
  await assertRefused(decryptPushMessage(body, keys), 'bad_header', /not an uncompressed P-256 point/);
});

test('a keyid that is not on the curve: bad_header', async () => {
  const keys = await rfcUserAgentKeys();
  const body = altered(b64urlDecode(RFC8291.body), (b) => { b[85] ^= 0x01; }); // last byte of y
  await assertRefused(decryptPushMessage(body, keys), 'bad_header', /not on the curve/);
});

test('rs 17: bad_header', async () => {
  const keys = await rfcUserAgentKeys();
  const body = altered(b64urlDecode(RFC8291.body), (b) => b.set(uint32(17), 16));
  await assertRefused(decryptPushMessage(body, keys), 'bad_header', /record size \(rs\) is 17/);
});

test('a ciphertext longer than rs: too_many_records', async () => {
  const keys = await rfcUserAgentKeys();
  // rs is not bound into the encryption: without the check this would decrypt.
  const body = altered(b64urlDecode(RFC8291.body), (b) => b.set(uint32(18), 16));
  await assertRefused(decryptPushMessage(body, keys), 'too_many_records', /58 bytes, more than the record size of 18/);

  const fresh = await createUserAgentKeys();
  const one = await encryptRecord(fresh, pad('fits', { zeros: 3 }), { rs: 23 }); // 24 bytes of ciphertext
  await assertRefused(decryptPushMessage(one, fresh), 'too_many_records', /24 bytes, more than the record size of 23/);
});

test('delimiter 0x01 (a record that is not the last): bad_padding', async () => {
  const keys = await createUserAgentKeys();
  const body = await encryptRecord(keys, pad('part one', { delimiter: 0x01, zeros: 4 }));
  await assertRefused(decryptPushMessage(body, keys), 'bad_padding', /delimiter is 0x01/);
});

test('a last non-zero byte that is no delimiter: bad_padding', async () => {
  const keys = await createUserAgentKeys();
  const body = await encryptRecord(keys, utf8.encode('no delimiter'));
  await assertRefused(decryptPushMessage(body, keys), 'bad_padding', /does not end with the padding delimiter 0x02/);
});

test('an all-zero record: bad_padding', async () => {
  const keys = await createUserAgentKeys();
  const body = await encryptRecord(keys, new Uint8Array(20));
  await assertRefused(decryptPushMessage(body, keys), 'bad_padding', /no padding delimiter, only zeros/);
});

test('base64url that is not: bad_base64, without echoing the text', () => {
  assertBadBase64('a', /1 characters is not a possible length/);
  assertBadBase64('abcde', /5 characters is not a possible length/);
  assertBadBase64('ab+c', /position 2 is outside the alphabet/);
  assertBadBase64('ab/c', /position 2 is outside the alphabet/);
  assertBadBase64('abc=', /position 3 is outside the alphabet/); // no padding
  // 'Zh' and 'Zm9' are 'f' and 'fo' with leftover bits set: another spelling.
  assertBadBase64('Zh', /bits set that encode nothing/);
  assertBadBase64('Zm9', /bits set that encode nothing/);
  assert.throws(() => b64urlDecode('secret+key'), (err) => !err.message.includes('secret'));
});

test('base64url round trips and matches RFC 4648 section 5', () => {
  for (let n = 0; n <= 40; n++) {
    const bytes = globalThis.crypto.getRandomValues(new Uint8Array(n));
    const encoded = b64urlEncode(bytes);
    assert.equal(encoded, Buffer.from(bytes).toString('base64url'));
    assert.deepEqual(b64urlDecode(encoded), bytes);
  }
  // RFC 4648 section 10, with its padding dropped.
  assert.equal(b64urlEncode(utf8.encode('foobar')), 'Zm9vYmFy');
  assert.equal(b64urlEncode(utf8.encode('fooba')), 'Zm9vYmE');
  assert.equal(text(b64urlDecode('Zm9vYg')), 'foob');
  assert.deepEqual(b64urlDecode('-_8'), Uint8Array.of(0xfb, 0xff));
});

// --- Key generation. ---

test('createUserAgentKeys: an uncompressed P-256 point, a 16-byte auth, a private key that stays inside', async () => {
  const keys = await createUserAgentKeys();
  assert.ok(keys.publicKey instanceof Uint8Array);
  assert.equal(keys.publicKey.length, 65);
  assert.equal(keys.publicKey[0], 0x04);
  assert.ok(keys.auth instanceof Uint8Array);
  assert.equal(keys.auth.length, 16);
  assert.equal(keys.privateKey.extractable, false);
  assert.equal(keys.privateKey.algorithm.name, 'ECDH');
  assert.equal(keys.privateKey.algorithm.namedCurve, 'P-256');
  assert.deepEqual(keys.privateKey.usages, ['deriveBits']);
  await assert.rejects(subtle.exportKey('jwk', keys.privateKey));

  const again = await createUserAgentKeys();
  assert.notDeepEqual(again.auth, keys.auth);
  assert.notDeepEqual(again.publicKey, keys.publicKey);
});
