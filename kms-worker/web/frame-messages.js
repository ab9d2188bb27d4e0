// What the KMS frame makes of a message from the host page: the closed set
// of kms-frame.js, decoded by pure functions so that a property test
// (tests/browser/unit/frame-messages.test.mjs) can feed them every shape
// postMessage can carry. Anything a host sends gets one of: dropped and
// counted, refused with a stable code, or passed on as exactly one request.

import { CONFIRM_OPS } from './frame-confirm.js';

// Request caps: the engine's (64 KiB; audit_verify up to 11 MiB).
export const MAX_PARAMS_CHARS = 64 * 1024;
export const MAX_VERIFY_CHARS = 11 * 1024 * 1024;

// Methods the host may call directly. `true`: the frame adds the user's
// session. Methods that carry secrets (setup, unlock, add_enrollment,
// change_passphrase, rekey) and the ceremony starts are reachable only through the
// frame's own UI; so are the operations whose effect outlasts the session
// (CONFIRM_OPS, frame-confirm.js): the user confirms each in the frame.
export const DIRECT_METHODS = new Map([
  ['info', false], ['status', false], ['list_enrollments', false], ['vapid_public', false],
  ['audit_verify', false], ['lease_issue', false], ['lease_courier', false],
  ['session_status', true], ['lock', true],
  ['vapid_generate', true], ['sign_jwt', true],
  ['audit_export', true], ['subscription_add', true], ['subscription_list', true],
  ['subscription_remove', true], ['lease_list', true], ['lease_revoke', true],
]);
export const SECRET_OPS = new Set(['setup', 'unlock', 'add_enrollment', 'change_passphrase', 'rekey']);
export const UI_OPS = new Set([...SECRET_OPS, ...CONFIRM_OPS]);

// Requests waiting for the user, at most.
export const MAX_UI_QUEUE = 8;

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
}

const refuse = (id, message) => ({ kind: 'refuse', id, code: 'invalid_input', message });

function camel(method) {
  return method.replace(/_(.)/g, (_, c) => c.toUpperCase());
}

/**
 * One message from the host's port: `{kind: 'drop'}` (not of the protocol:
 * counted, never answered), `{kind: 'refuse', id, code, message}`,
 * `{kind: 'call', id, method, params}` (a DIRECT_METHODS method, params a
 * plain object), `{kind: 'ui', id, op, params}` (a UI_OPS op, params a
 * plain object), `{kind: 'cancel', id}` or `{kind: 'stats', id}`.
 * `uiWaiting` is how many ui requests already wait.
 */
export function decodeHostMessage(m, uiWaiting = 0) {
  if (!isPlainObject(m) || !Number.isSafeInteger(m.id) || m.id <= 0) return { kind: 'drop' };
  const { id } = m;
  if (m.t === 'call' && typeof m.method === 'string') {
    const params = m.params ?? {};
    if (!isPlainObject(params)) return refuse(id, 'params must be a JSON object');
    const method = m.method;
    if (!DIRECT_METHODS.has(method)) {
      const shown = method.slice(0, 40).replace(/[^\x20-\x7e]/g, '\uFFFD');
      const why = SECRET_OPS.has(method) || method === 'prf_begin' || method === 'gate_begin'
        ? `\`${method}\` carries secrets, so only the KMS frame asks for it: use setup, unlock, addEnrollment, changePassphrase or rekey`
        : CONFIRM_OPS.has(method)
          ? `\`${method}\` lasts beyond the session, so the user confirms it in the KMS frame: send it as a ui request (the client's ${camel(method)})`
          : `unknown method \`${shown}\``;
      return refuse(id, why);
    }
    const checked = directParams(method, params);
    if (checked !== null) return refuse(id, checked);
    return { kind: 'call', id, method, params };
  }
  if (m.t === 'ui' && typeof m.op === 'string') {
    if (!UI_OPS.has(m.op) || !isPlainObject(m.params)) {
      return refuse(id, `ui: op must be one of ${[...UI_OPS].join(', ')}, with params an object`);
    }
    if (uiWaiting >= MAX_UI_QUEUE) return refuse(id, `more than ${MAX_UI_QUEUE} requests wait for the user`);
    return { kind: 'ui', id, op: m.op, params: m.params };
  }
  if (m.t === 'cancel') return { kind: 'cancel', id };
  if (m.t === 'stats') return { kind: 'stats', id };
  return { kind: 'drop' };
}

// Why the params of a direct call cannot go to the engine, or null. Only
// JSON goes to the engine: postMessage also carries BigInts, cycles, Maps
// and the like, which the frame refuses rather than sending something the
// host did not mean.
function directParams(method, params) {
  if ('session' in params) return 'params: `session` is kept by the KMS; name the `user`';
  let size;
  try {
    // `this[key]` is the value before any toJSON (a Date's, say).
    size = JSON.stringify(params, function check(key, v) {
      const original = this[key];
      const json = original === null || typeof original === 'string' || typeof original === 'boolean'
        || (typeof original === 'number' && Number.isFinite(original))
        || Array.isArray(original) || isPlainObject(original);
      if (!json) throw new TypeError('not JSON');
      return v;
    }).length;
  } catch {
    return 'params: only JSON values (objects, arrays, strings, numbers, booleans, null)';
  }
  const cap = method === 'audit_verify' ? MAX_VERIFY_CHARS : MAX_PARAMS_CHARS;
  if (size > cap) return `params larger than ${cap} characters`;
  return null;
}
