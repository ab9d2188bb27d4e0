// The KMS frame's decoder of host messages (kms-worker/web/frame-messages.js)
// and its confirmation panels (frame-confirm.js), fed every shape a hostile
// host can post: a seeded property test over the message set. Each message
// goes through structuredClone, which is what postMessage does to it.
//
//   node --test tests/browser/unit/
//
// KMS_PROPERTY_CASES sets the number of generated messages (20,000 by
// default); KMS_PROPERTY_SEED the seed (a failure prints the one it ran with).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { DIRECT_METHODS, MAX_PARAMS_CHARS, MAX_UI_QUEUE, MAX_VERIFY_CHARS, UI_OPS, decodeHostMessage } from '../../../kms-worker/web/frame-messages.js';
import { CONFIRM_OPS, checkLabel, checkUser, describe } from '../../../kms-worker/web/frame-confirm.js';

const CASES = Number(process.env.KMS_PROPERTY_CASES ?? 20_000);
const SEED = Number(process.env.KMS_PROPERTY_SEED ?? 0x6b6d73);

// mulberry32: small, seeded, good enough to pick shapes.
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (xs) => xs[int(xs.length)];
  return { next, int, pick };
}

const KEYS = ['t', 'id', 'method', 'op', 'params', 'user', 'session', 'label', 'lease', 'relay', 'audiences',
  'lifetime_s', 'tokens_per_hour', 'max_batch', 'relay_key', 'lease_id', 'enrollment_id', 'confirm', 'method',
  '__proto__', 'constructor', 'toJSON', 'length', ''];
const METHOD_NAMES = [...DIRECT_METHODS.keys(), ...UI_OPS, 'prf_begin', 'gate_begin', 'handle_json', '__proto__',
  'toString', 'INFO', 'info ', ''];
const TEXT = ['alice', 'a', '..', '.', 'x'.repeat(65), 'bob@example.com', 'https://fcm.googleapis.com',
  'https://fcm.googleapis.com/', 'http://localhost', 'relay-1', 'kmsl1.abc.def', 'A'.repeat(22),
  'e\u202eliv', 'line\u2028two', 'nul\u0000', 'tab\t', '\u{1F600}', '\ud800', 'x'.repeat(70_000),
  'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4', '=', '%00'];
const NUMBERS = [0, 1, -1, 2, 60, 59, 3600, 3601, 86_400, 604_800, 604_801, 1.5, -0, NaN, Infinity, -Infinity,
  Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 2 ** 31, 1e300];

function value(r, depth) {
  switch (r.int(depth > 0 ? 16 : 9)) {
    case 0: return undefined;
    case 1: return null;
    case 2: return r.next() < 0.5;
    case 3: case 4: return r.pick(NUMBERS);
    case 5: case 6: return r.pick(TEXT);
    case 7: return BigInt(r.int(1000)) - 500n;
    case 8: return String.fromCharCode(...Array.from({ length: r.int(12) }, () => r.int(0x3000)));
    case 9: return Array.from({ length: r.int(4) }, () => value(r, depth - 1));
    case 10: case 11: case 12: return object(r, depth - 1);
    case 13: return r.pick([new Date(0), /re/g, new Map([[1, 2]]), new Set([1]), new Uint8Array(3), new ArrayBuffer(2), new Error('e')]);
    case 14: { const o = object(r, depth - 1); o.self = o; return o; }
    default: { const o = Object.create(null); o.user = r.pick(TEXT); return o; }
  }
}

function object(r, depth) {
  const o = {};
  for (let i = r.int(5); i > 0; i -= 1) {
    Object.defineProperty(o, r.pick(KEYS), { value: value(r, depth), enumerable: true, configurable: true, writable: true });
  }
  return o;
}

// Params that look like a real request, with one field (or none) made hostile.
function plausibleParams(r, op) {
  const p = { user: r.next() < 0.8 ? 'alice' : value(r, 1) };
  if (op === 'lease_create') {
    p.lease = { relay: 'relay-1', audiences: ['https://fcm.googleapis.com'], lifetime_s: 3600, tokens_per_hour: 60, max_batch: 10 };
    if (r.next() < 0.3) p.relay_key = r.pick(TEXT);
    if (r.next() < 0.7) p.lease[r.pick(Object.keys(p.lease))] = value(r, 2);
    if (r.next() < 0.1) p.lease = value(r, 2);
  } else if (op === 'lease_extend') {
    p.lease_id = 'L'.repeat(22);
    p.lifetime_s = 7200;
  } else if (op === 'remove_enrollment') {
    p.enrollment_id = 'E'.repeat(22);
  }
  if (r.next() < 0.5) p[r.pick(KEYS)] = value(r, 2);
  return p;
}

function message(r) {
  if (r.next() < 0.1) return value(r, 3);
  const m = {};
  if (r.next() < 0.95) m.t = r.pick(['call', 'call', 'ui', 'ui', 'cancel', 'stats', 'kms:connect', 'result', value(r, 0)]);
  if (r.next() < 0.95) m.id = r.next() < 0.8 ? 1 + r.int(1000) : r.pick([0, -1, 1.5, '1', NaN, 2 ** 53, 7n, null]);
  if (r.next() < 0.9) m.method = r.next() < 0.8 ? r.pick(METHOD_NAMES) : value(r, 0);
  if (r.next() < 0.9) m.op = r.next() < 0.8 ? r.pick([...UI_OPS]) : value(r, 0);
  if (r.next() < 0.9) m.params = r.next() < 0.6 ? plausibleParams(r, m.op) : value(r, 3);
  if (r.next() < 0.1) m[r.pick(KEYS)] = value(r, 2);
  return m;
}

// What postMessage delivers: the structured clone, or nothing (it throws).
function posted(m) {
  try { return { ok: true, data: structuredClone(m) }; } catch { return { ok: false }; }
}

const PRINTABLE = /^[^\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]*$/u;

function isPlain(v) {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
}

// Exactly JSON: what JSON.parse(JSON.stringify(v)) gives back unchanged.
function isJson(v) {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(isJson);
  return isPlain(v) && Object.values(v).every(isJson);
}

test(`the frame decodes ${CASES} generated host messages into the closed set, never throwing`, () => {
  const r = rng(SEED);
  const seen = new Map();
  for (let i = 0; i < CASES; i += 1) {
    const sent = posted(message(r));
    if (!sent.ok) continue;
    const m = sent.data;
    const waiting = r.int(MAX_UI_QUEUE + 2);
    let d;
    try {
      d = decodeHostMessage(m, waiting);
    } catch (e) {
      assert.fail(`seed ${SEED}, case ${i}: decodeHostMessage threw ${e} on ${JSON.stringify(m, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))?.slice(0, 300)}`);
    }
    seen.set(d.kind, (seen.get(d.kind) ?? 0) + 1);
    const where = `seed ${SEED}, case ${i}: ${d.kind}`;
    assert.ok(['drop', 'refuse', 'call', 'ui', 'cancel', 'stats'].includes(d.kind), where);
    if (d.kind === 'drop') continue;
    // Anything answered is answered to the host's own id.
    assert.ok(isPlain(m) && Number.isSafeInteger(m.id) && m.id > 0 && d.id === m.id, where);
    switch (d.kind) {
      case 'refuse':
        assert.equal(d.code, 'invalid_input', where);
        assert.equal(typeof d.message, 'string', where);
        assert.ok(d.message.length <= 400 && PRINTABLE.test(d.message), `${where}: ${d.message}`);
        assert.ok(m.t === 'call' || m.t === 'ui', where);
        break;
      case 'call': {
        assert.equal(m.t, 'call', where);
        assert.ok(DIRECT_METHODS.has(d.method), where);
        assert.ok(isJson(d.params), `${where}: params the engine would not see as sent`);
        assert.ok(!('session' in d.params), where);
        const cap = d.method === 'audit_verify' ? MAX_VERIFY_CHARS : MAX_PARAMS_CHARS;
        assert.ok(JSON.stringify(d.params).length <= cap, where);
        break;
      }
      case 'ui':
        assert.equal(m.t, 'ui', where);
        assert.ok(UI_OPS.has(d.op) && isPlain(d.params) && waiting < MAX_UI_QUEUE, where);
        break;
      default:
        assert.equal(m.t, d.kind, where);
    }
  }
  // The generator reaches every outcome.
  for (const kind of ['drop', 'refuse', 'call', 'ui', 'cancel', 'stats']) {
    assert.ok((seen.get(kind) ?? 0) > CASES / 100, `only ${seen.get(kind) ?? 0} ${kind} outcomes`);
  }
});

test('the frame refuses direct params that are not exactly JSON', () => {
  const cyclic = { user: 'alice' };
  cyclic.self = cyclic;
  for (const params of [{ n: 1n }, cyclic, { d: new Date(0) }, { x: NaN }, { m: new Map() }, { a: [Infinity] }, { b: new Uint8Array(1) }]) {
    const d = decodeHostMessage(structuredClone({ t: 'call', id: 1, method: 'info', params }));
    assert.equal(d.kind, 'refuse', Object.keys(params).join());
    assert.match(d.message, /only JSON values/);
  }
  assert.equal(decodeHostMessage({ t: 'call', id: 1, method: 'info', params: { a: [1, 'x', null, { b: true }] } }).kind, 'call');
});

// The engine's answers the panels read: fixed, well-formed.
async function engine(method) {
  switch (method) {
    case 'lease_list':
      return { leases: [{ id: 'L'.repeat(22), relay: 'relay-1', state: 'active', expires_ms: 1_900_000_000_000, audiences: ['https://fcm.googleapis.com'], tokens_per_hour: 60, kid: 'k1' }] };
    case 'subscription_list':
      return { subscriptions: [{ id: 's1', origin: 'https://fcm.googleapis.com', kid: 'k1' }] };
    case 'list_enrollments':
      return { enrollments: [{ id: 'E'.repeat(22), method: 'passphrase', label: 'laptop\u202e', created_ms: 1_800_000_000_000 }], damaged: [] };
    case 'vapid_public':
      return { current: { kid: 'k1' } };
    default:
      throw new Error(`unexpected read ${method}`);
  }
}

test(`every confirmation panel checks generated host params and refuses with a stable code`, async () => {
  const r = rng(SEED + 1);
  const n = Math.max(200, Math.floor(CASES / 10));
  const outcomes = { panel: 0, refused: 0 };
  for (let i = 0; i < n; i += 1) {
    const op = r.pick([...CONFIRM_OPS]);
    const sent = posted(plausibleParams(r, op));
    if (!sent.ok || !isPlain(sent.data)) continue;
    const params = sent.data;
    const where = `seed ${SEED + 1}, case ${i}, ${op}`;
    let panel;
    try {
      panel = await describe(op, params, engine, { now: 1_800_000_000_000 });
    } catch (e) {
      assert.ok(['invalid_input', 'not_found'].includes(e.code), `${where}: ${e}`);
      assert.ok(PRINTABLE.test(e.message), `${where}: ${e.message}`);
      outcomes.refused += 1;
      continue;
    }
    outcomes.panel += 1;
    assert.equal(typeof panel.title, 'string', where);
    assert.ok(panel.lines.every((l) => typeof l === 'string' && PRINTABLE.test(l)), where);
    assert.ok(PRINTABLE.test(panel.title), where);
    // What confirming sends: the shown user, JSON only, no field the panel
    // did not name.
    assert.equal(panel.request.user, params.user, where);
    assert.ok(isJson(panel.request), where);
    const allowed = { user_delete: ['user', 'confirm'], lease_create: ['user', 'lease', 'relay_key'], lease_extend: ['user', 'lease_id', 'lifetime_s'], remove_enrollment: ['user', 'enrollment_id'], vapid_rotate: ['user'] }[op];
    assert.ok(Object.keys(panel.request).every((k) => allowed.includes(k)), `${where}: ${Object.keys(panel.request)}`);
  }
  assert.ok(outcomes.panel > n / 10 && outcomes.refused > n / 10, JSON.stringify(outcomes));
});

test('user ids and labels: only the engine\'s rule passes, and nothing else throws but a refusal', () => {
  const r = rng(SEED + 2);
  for (let i = 0; i < 2_000; i += 1) {
    const v = r.next() < 0.5 ? r.pick(TEXT) : value(r, 1);
    for (const check of [checkUser, checkLabel]) {
      try {
        const out = check(v);
        if (check === checkUser) assert.ok(/^[A-Za-z0-9._@+-]{1,64}$/.test(out) && out !== '.' && out !== '..');
        else assert.ok(out === undefined || (typeof out === 'string' && out.length <= 64 && PRINTABLE.test(out)));
      } catch (e) {
        assert.equal(e.code, 'invalid_input', String(e));
      }
    }
  }
});
