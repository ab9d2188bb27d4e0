// The KMS engine's worker: a dedicated module Worker of the KMS origin,
// started only by kms-frame.js (a dedicated worker can receive messages from
// its creator alone). It runs the WASM engine, opens the origin's IndexedDB
// and answers one JSON request at a time.
//
// Not served on its own: scripts/build-web.sh appends this file to the
// engine's wasm-bindgen glue (pkg/kms_worker.js) as kms-engine.js, whose
// top-level `__wbg_init` and `KmsWorker` this code uses. The frame fetches
// kms-engine.js with its integrity value and starts the worker from a
// blob: URL of exactly those bytes, and hands over the engine's WASM
// already compiled from bytes it checked: the worker fetches nothing
// (docs/browser.md section 6.2).
//
// Messages it accepts (anything else is dropped and counted):
//   {t: 'load', module: WebAssembly.Module}   at most once, before 'open':
//                         instantiates the engine while the frame is still
//                         checking its configuration
//   {t: 'open', module?: WebAssembly.Module, options: {db_name, allow_loopback_push, session_ttl_ms,
//                         max_lease_lifetime_s, allowed_hosts, host_groups}}   once
//                         (`module` is needed only without 'load')
//   {t: 'bind', origin}   once, after 'ready': the host page the frame serves
//                         (until then the engine answers `info` only)
//   {t: 'rpc', id: <positive integer>, body: <JSON text, capped>}
// Messages it sends:
//   {t: 'ready', info} | {t: 'fatal', code, message} | {t: 'bound', app} |
//   {t: 'bind_failed', message, code} |
//   {t: 'rpc', id, body} | {t: 'dropped', count}
// A request over the cap is answered with an `invalid_input` response, not
// dropped, so the frame does not wait for its timeout.

// A scope of its own, apart from the glue's names.
{
// The engine's own cap (audit_verify may carry a 10 MiB export), plus room
// for the envelope; the engine refuses anything over its caps itself.
const MAX_BODY_CHARS = 11 * 1024 * 1024;

let engine = null;
let loading = null; // the instantiation begun by 'load' (or by 'open')
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

async function open(options, module) {
  opening = true;
  try {
    if (loading === null) {
      if (!(module instanceof WebAssembly.Module)) throw new Error('no engine module was handed over');
      loading = __wbg_init({ module_or_path: module });
    }
    await loading;
    engine = await KmsWorker.open(JSON.stringify(options));
    lockName = `kms-engine:${options.db_name ?? 'kms'}`;
    // The engine's `info` (versions, limits, methods: nothing stored) goes
    // with `ready`, so the frame spends no round trip on it at start.
    const response = JSON.parse(await engine.handle(JSON.stringify({ v: 1, id: 1, method: 'info', params: {} })));
    if (!response.result) throw new Error(`the engine did not answer info: ${response.error?.message}`);
    self.postMessage({ t: 'ready', info: response.result });
  } catch (e) {
    // KmsWorker.open says which part failed: `config_invalid`,
    // `storage_unavailable` (the browser keeps the origin's storage from
    // it here), `internal`.
    const code = e && typeof e.code === 'string' ? e.code : 'internal';
    self.postMessage({ t: 'fatal', code, message: String(e && e.message ? e.message : e) });
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
  let response;
  if (navigator.locks) {
    try {
      response = await navigator.locks.request(lockName, run);
    } catch (e) {
      // The lock itself refused (storage blocked here): answered, never
      // left to time out. (`run` answers every failure of the engine in
      // its response; what reaches here is the lock's.)
      const error = { code: 'storage', message: `the engine's lock failed: ${e && e.name ? e.name : 'error'}` };
      response = JSON.stringify({ v: 1, id, error });
    }
  } else {
    response = await run();
  }
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
  if (msg.t === 'load' && loading === null && !opening && msg.module instanceof WebAssembly.Module) {
    loading = __wbg_init({ module_or_path: msg.module });
    // A failure is reported by 'open', which awaits it.
    loading.catch(() => {});
    return;
  }
  if (msg.t === 'open' && !opening && msg.options !== null && typeof msg.options === 'object') {
    return void open(msg.options, msg.module);
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
}
