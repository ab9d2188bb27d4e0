// The KMS engine's worker: a dedicated module Worker of the KMS origin,
// started only by kms-frame.js (a dedicated worker can receive messages from
// its creator alone). It loads the WASM engine, opens the origin's IndexedDB
// and answers one JSON request at a time.
//
// Messages it accepts (anything else is dropped and counted):
//   {t: 'open', integrity: {glue, wasm}, options: {db_name, allow_loopback_push, session_ttl_ms,
//                         max_lease_lifetime_s, allowed_hosts, host_groups}}   once
//   {t: 'bind', origin}   once, after 'ready': the host page the frame serves
//                         (until then the engine answers `info` only)
//   {t: 'rpc', id: <positive integer>, body: <JSON text, capped>}
// Messages it sends:
//   {t: 'ready'} | {t: 'fatal', message, code?: 'integrity'} | {t: 'bound', app} |
//   {t: 'bind_failed', message, code} |
//   {t: 'rpc', id, body} | {t: 'dropped', count}
// A request over the cap is answered with an `invalid_input` response, not
// dropped, so the frame does not wait for its timeout.

// The engine (the wasm-bindgen glue and its WASM) is loaded only after it
// passed the checks the frame hands over with `open` (see loadEngine).
let KmsWorker = null;

// The engine's own cap (audit_verify may carry a 10 MiB export), plus room
// for the envelope; the engine refuses anything over its caps itself.
const MAX_BODY_CHARS = 11 * 1024 * 1024;

let engine = null;
let opening = false;
let binding = false;
let dropped = 0;
let lockName = 'kms-engine';

function drop() {
  dropped += 1;
  self.postMessage({ t: 'dropped', count: dropped });
}

function isId(id) {
  return Number.isSafeInteger(id) && id > 0;
}

class IntegrityError extends Error {}

function base64(buffer) {
  let s = '';
  for (const b of new Uint8Array(buffer)) s += String.fromCharCode(b);
  return btoa(s);
}

// The glue is fetched with its SRI value (the browser refuses other bytes)
// and then imported from the same URL; the WASM is fetched as bytes, hashed,
// and compiled from exactly those bytes.
async function loadEngine(integrity) {
  if (!integrity || typeof integrity.glue !== 'string' || typeof integrity.wasm !== 'string') {
    throw new IntegrityError('no integrity values for the engine');
  }
  const glueUrl = new URL('./pkg/kms_worker.js', import.meta.url);
  try {
    const r = await fetch(glueUrl, { integrity: integrity.glue, cache: 'no-cache', credentials: 'omit' });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
  } catch (e) {
    throw new IntegrityError(`the key manager's pkg/kms_worker.js does not match this build (integrity): it will not run (${e.message})`);
  }
  const glue = await import(glueUrl.href);
  const response = await fetch(new URL('./pkg/kms_worker_bg.wasm', import.meta.url), { cache: 'no-cache', credentials: 'omit' });
  if (!response.ok) throw new IntegrityError(`the key manager's WASM did not load: HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  const digest = `sha384-${base64(await crypto.subtle.digest('SHA-384', bytes))}`;
  if (digest !== integrity.wasm) {
    throw new IntegrityError("the key manager's pkg/kms_worker_bg.wasm does not match this build (integrity): it will not run");
  }
  await glue.default({ module_or_path: await WebAssembly.compile(bytes) });
  return glue.KmsWorker;
}

async function open(options, integrity) {
  opening = true;
  try {
    KmsWorker = await loadEngine(integrity);
    engine = await KmsWorker.open(JSON.stringify(options));
    lockName = `kms-engine:${options.db_name ?? 'kms'}`;
    self.postMessage({ t: 'ready' });
  } catch (e) {
    const code = e instanceof IntegrityError ? { code: 'integrity' } : {};
    self.postMessage({ t: 'fatal', message: String(e && e.message ? e.message : e), ...code });
  }
}

// Several workers of this origin (one per tab) share one IndexedDB. Each call
// holds an exclusive Web Lock for its whole run (one per app once bound:
// `kms-engine:<db_name>:<app>`), so calls of different tabs of one app
// never interleave inside the engine (its writes are also guarded by
// preconditions in one IndexedDB transaction; the lock keeps them from
// failing as conflicts). Without the Web Locks API, the preconditions alone
// keep the data consistent and a lost race is answered `storage`.
async function answer(id, body) {
  const run = () => engine.handle(body);
  const response = navigator.locks ? await navigator.locks.request(lockName, run) : await run();
  self.postMessage({ t: 'rpc', id, body: response });
}

async function bind(origin) {
  binding = true;
  try {
    const app = await engine.bind(origin);
    // From now on this engine touches only its app's records: apps of one
    // database do not wait for each other (the root-owner record, the one
    // key two apps may both write, is written once under a precondition).
    lockName = `${lockName}:${app}`;
    self.postMessage({ t: 'bound', app });
  } catch (e) {
    self.postMessage({ t: 'bind_failed', message: String(e && e.message ? e.message : e), code: e && typeof e.code === 'string' ? e.code : 'internal' });
  }
}

self.onmessage = (event) => {
  const msg = event.data;
  if (msg === null || typeof msg !== 'object') return drop();
  if (msg.t === 'open' && !opening && msg.options !== null && typeof msg.options === 'object') {
    return void open(msg.options, msg.integrity);
  }
  if (msg.t === 'bind' && engine !== null && !binding && typeof msg.origin === 'string') {
    return void bind(msg.origin);
  }
  if (msg.t === 'rpc' && engine !== null && isId(msg.id) && typeof msg.body === 'string') {
    if (msg.body.length > MAX_BODY_CHARS) {
      const error = { code: 'invalid_input', message: `request larger than ${MAX_BODY_CHARS} characters` };
      return void self.postMessage({ t: 'rpc', id: msg.id, body: JSON.stringify({ v: 1, id: msg.id, error }) });
    }
    return void answer(msg.id, msg.body);
  }
  return drop();
};
