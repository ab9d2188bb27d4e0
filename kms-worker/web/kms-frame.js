// The KMS iframe (origin B). It stands between the host page (origin A, the
// PWA) and the engine's worker, and it is the only place where passphrases
// are typed and WebAuthn ceremonies run. Sessions stay here: the host names a
// user, this frame adds the session token, so no secret and no bearer token
// ever reaches the host. docs/browser.md describes the channel.
//
// Host -> frame, over the MessagePort handed over in the handshake (closed
// set; anything else is dropped and counted):
//   {t: 'call',   id, method, params}   a method of DIRECT_METHODS
//   {t: 'ui',     id, op, params}       setup | unlock | add_enrollment | change_passphrase | rekey
//                                       (typed in the frame), or one of CONFIRM_OPS
//                                       (user_delete | lease_create | lease_extend |
//                                       remove_enrollment | vapid_rotate: confirmed in the frame)
//   {t: 'cancel', id}                   ends a pending ui request
//   {t: 'stats',  id}                   counters
// Frame -> host:
//   {t: 'ready', v, info, build} |
//   {t: 'fatal', v, error} (the KMS cannot serve this page: it could not
//                           start, the origin is not listed, or the client
//                           speaks another protocol: `incompatible`) |
//   {t: 'result', id, ok: true, result} |
//   {t: 'result', id, ok: false, error: {code, message, retry_after_ms?, first_bad_seq?}} |
//   {t: 'attention', needed: bool}      (the frame needs the user: show it)

// The frame's modules (frame-guard.js, frame-confirm.js, frame-messages.js,
// frame-config.js) are imported in `loadModules`, once the browser is known
// to check them against the page's import map; until then nothing of
// theirs runs.
let Guard, CONFIRM_OPS, DEFAULT_MAX_LEASE_LIFETIME_S, checkLabel, checkUser, describe, DIRECT_METHODS, decodeHostMessage,
  checkConfig;

const PROTOCOL = 1;
const CONFIG_URL = '/kms-config.json';
const WORKER_TIMEOUT_MS = 120_000;
const WORKER_START_TIMEOUT_MS = 30_000;

const METHODS = new Set(['passphrase', 'passkey_prf', 'passkey_gate']);

const stats = { dropped: 0, calls: 0, ui: 0, worker_dropped: 0 };
// Every input and action button of the panel: usable only while the guard
// says the panel is really in front of the user (frame-guard.js); made at
// start-up, once the module is loaded.
let guard = null;
const sessions = new Map(); // user -> session token (never leaves this frame)
let config = null;
// /kms-config.json as served, before it is checked: enough to tell an
// allowed host why the frame could not start.
let rawConfig = null;
let info = null;
let hostOrigin = null;
let port = null;
let worker = null;
let nextWorkerId = 1;
const workerCalls = new Map(); // id -> {resolve, timer}

const $ = (id) => document.getElementById(id);
function status(text) { $('kms-status').textContent = text; }

// This script runs: the page's boot script leaves connects to it.
window.kmsFrameRunning = true;
performance.mark?.('kms:running');

// What this build is (kms.html's data block, written by the build): the
// build id and the SRI value of every file of the bundle. The engine's
// script and its WASM are checked against it before they run
// (docs/browser.md section 6.2).
function readBuild() {
  try {
    const b = JSON.parse($('kms-build').textContent);
    if (typeof b.build === 'string' && /^[0-9a-f]{64}$/.test(b.build) && b.files && typeof b.files === 'object') return b;
  } catch { /* below */ }
  return null;
}
const BUILD = readBuild();

function drop() { stats.dropped += 1; }

// Start-up milestones on the frame's performance timeline (`kms:` marks),
// which tests/browser/bench/bench.mjs reads to say where a cold start goes.
function mark(name) { performance.mark?.(`kms:${name}`); }

class KmsFailure extends Error {
  constructor(code, message, retryAfterMs, firstBadSeq) {
    super(message);
    this.code = code;
    this.retryAfterMs = retryAfterMs;
    this.firstBadSeq = firstBadSeq;
  }
}

// ---- start-up: configuration, then the worker ---------------------------

// The configuration as served, parsed; checked later by frame-config.js.
async function fetchConfig() {
  let response;
  try {
    response = await fetch(CONFIG_URL, { cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    throw new KmsFailure('config_missing', `${CONFIG_URL} could not be fetched (${e.message})`);
  }
  if (!response.ok) {
    throw new KmsFailure('config_missing', `${CONFIG_URL}: HTTP ${response.status}: the KMS origin must serve its configuration (docs/browser.md section 7)`);
  }
  try {
    return await response.json();
  } catch {
    throw new KmsFailure('config_invalid', `${CONFIG_URL}: not JSON`);
  }
}

// Where the browser keeps this origin's storage from the frame (a KMS on
// another site than the app, with third-party storage blocked), say so
// before the engine tries: IndexedDB and Web Locks then throw.
async function checkStorage() {
  if (typeof indexedDB === 'undefined' || !indexedDB) {
    throw new KmsFailure('storage_unavailable', 'this browser gives the key manager no IndexedDB here');
  }
  // Probes that write nothing: the lock manager, and the list of
  // databases. A browser that blocks third-party storage refuses both in a
  // frame embedded by another site (Chromium: SecurityError, and "The user
  // denied permission to access the database").
  let refusal = null;
  let probe = 'Web Locks';
  try {
    if (navigator.locks) await navigator.locks.query();
    probe = 'IndexedDB';
    if (typeof indexedDB.databases === 'function') await indexedDB.databases();
  } catch (e) {
    refusal = e;
  }
  if (refusal === null) return;
  // Without storage access in a frame: the embedding page is of another
  // site, and the browser blocks that site's frames from their storage.
  const access = await document.hasStorageAccess?.().catch(() => null);
  if (access === false) {
    throw new KmsFailure('storage_blocked', `this browser blocks the key manager's storage here (${probe}: ${refusal.name}): `
      + 'it is embedded by a page of another site and third-party storage is blocked (a browser setting, a private window, or the default). '
      + "Serve the key manager on the app's own site, e.g. kms.<the app's domain>, or open it in a window of its own "
      + '(connect({popup: true}) from a click) (docs/browser.md section 5, Sites).');
  }
  throw new KmsFailure('storage_unavailable', `this browser does not let the key manager use its storage here (${probe}: ${refusal.name}: ${refusal.message})`);
}

// A file of the bundle, fetched with its SRI value from the build: the
// browser refuses it (TypeError) unless its bytes match. Resolves with
// those bytes.
async function checkedBytes(path) {
  const integrity = BUILD.files[path];
  if (typeof integrity !== 'string') throw new KmsFailure('integrity', `${path} is not part of this build (integrity)`);
  try {
    const response = await fetch(new URL(`./${path}`, import.meta.url), { integrity });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await response.arrayBuffer();
  } catch (e) {
    throw new KmsFailure('integrity', `the key manager's ${path} did not load or does not match this build (integrity): it will not run (${e.message})`);
  }
}

// Imports the frame's modules, after making sure the browser will refuse
// them unless they match the build: the page's boot script ran (so the
// origin's CSP carries the page's hashes, and the import map applies), this
// script is kms-frame.js at its own URL (imports resolve against it), and a
// probe whose import-map integrity can never match fails to import (so
// this browser checks the integrity of module imports).
async function loadModules() {
  if (window.kmsBootRan !== true) {
    throw new KmsFailure('integrity', "the page's inline scripts were blocked (integrity): the KMS origin's CSP lacks the csp_script_hashes of manifest.json");
  }
  if (import.meta.url !== new URL('kms-frame.js', document.baseURI).href) {
    throw new KmsFailure('integrity', 'kms-frame.js was served from another URL than the page names (integrity)');
  }
  // The probe's fetch (it is there) and its import (refused) run together.
  const probe = new URL('./integrity-probe.js', import.meta.url);
  const [found, checked] = await Promise.all([
    fetch(probe, { cache: 'no-cache', credentials: 'omit' }).then((r) => r.ok, () => false),
    import(probe.href).then(() => false, () => true),
  ]);
  if (!found) throw new KmsFailure('integrity', "the key manager's integrity-probe.js did not load (integrity)");
  if (!checked) {
    throw new KmsFailure('integrity', 'this browser does not check the integrity of module imports: the key manager cannot make sure of its code here (integrity)');
  }
  const load = (path) => import(path).catch((e) => {
    throw new KmsFailure('integrity', `the key manager's ${path.slice(2)} did not load or does not match this build (integrity): it will not run (${e.message})`);
  });
  // The four together (each still checked against the import map).
  const [guardModule, confirmModule, messagesModule, configModule] = await Promise.all(
    ['./frame-guard.js', './frame-confirm.js', './frame-messages.js', './frame-config.js'].map(load));
  ({ Guard } = guardModule);
  ({ CONFIRM_OPS, DEFAULT_MAX_LEASE_LIFETIME_S, checkLabel, checkUser, describe } = confirmModule);
  ({ DIRECT_METHODS, decodeHostMessage } = messagesModule);
  ({ checkConfig } = configModule);
}

// The engine's worker runs exactly the bytes checked here: the engine
// script (the glue with kms-worker.js, one file) from a blob: URL of them,
// and the WASM compiled here from them and handed over as a module. The
// worker fetches nothing, so nothing it runs is fetched twice.
//
// Begun as the frame starts, beside the configuration and the modules
// (`started` below): the two checked fetches, the compile, and the worker
// thread, which starts from the script as soon as it is checked and then
// waits for `open` (it touches no storage before). Nothing is compiled or
// run before its bytes matched the build.
function spawnEngine() {
  const script = checkedBytes('kms-engine.js');
  const module = checkedBytes('pkg/kms_worker_bg.wasm').then((bytes) => {
    mark('wasm-checked');
    return WebAssembly.compile(bytes);
  }).then((m) => { mark('wasm-compiled'); return m; });
  const thread = script.then((bytes) => {
    const url = URL.createObjectURL(new Blob([bytes], { type: 'text/javascript' }));
    const w = new Worker(url, { type: 'module', name: 'kms-engine' });
    mark('worker-spawned');
    // An error before `open` is posted (a script that failed to load) is
    // kept for `openEngine`; the worker says nothing else before `open`.
    const early = [];
    w.onerror = (e) => early.push(e);
    return { w, url, early };
  });
  // The engine is instantiated in its thread as soon as both are there,
  // while the frame still checks its configuration (the worker's 'load';
  // `openEngine` posts 'open' only after it).
  const loaded = Promise.all([thread, module]).then(([{ w }, m]) => w.postMessage({ t: 'load', module: m }));
  // Awaited in `started`, in order; a failure is reported there.
  module.catch(() => {});
  thread.catch(() => {});
  loaded.catch(() => {});
  return { module, thread, loaded };
}

// Opens the engine in its worker once the configuration is checked.
// Resolves with the worker and the engine's `info` when it says `ready`.
async function openEngine(engine) {
  const { w, url, early } = await engine.thread;
  let module;
  try {
    module = await engine.module;
    await engine.loaded;
  } catch (e) {
    w.terminate();
    URL.revokeObjectURL(url);
    throw e;
  }
  return new Promise((resolve, reject) => {
    const done = () => { clearTimeout(timer); URL.revokeObjectURL(url); };
    // A worker that failed to start goes, with its hold on IndexedDB.
    const failed = (e) => { done(); w.terminate(); reject(e); };
    const timer = setTimeout(() => failed(new Error('the engine did not start in time')), WORKER_START_TIMEOUT_MS);
    const onMessage = (m) => {
      if (m && m.t === 'ready') {
        mark('engine-ready');
        done();
        if (m.info === null || typeof m.info !== 'object') return failed(new KmsFailure('internal', 'the engine said ready without its info'));
        w.onmessage = onWorkerMessage;
        resolve({ w, info: m.info });
      } else if (m && m.t === 'fatal') {
        const code = m.code === 'storage_unavailable' || m.code === 'config_invalid' ? m.code : 'internal';
        failed(new KmsFailure(code, String(m.message)));
      }
    };
    const onError = (e) => failed(new Error(e.message || 'the engine failed to load'));
    w.onmessage = (event) => onMessage(event.data);
    w.onerror = onError;
    if (early.length > 0) return onError(early[0]);
    mark('engine-open');
    // (The module went with 'load' already; the worker uses that one.)
    w.postMessage({
      t: 'open',
      module,
      options: {
        db_name: config.db_name ?? 'kms',
        allow_loopback_push: config.allow_loopback_push === true,
        allowed_hosts: config.allowed_hosts,
        ...(Number.isSafeInteger(config.session_ttl_ms) ? { session_ttl_ms: config.session_ttl_ms } : {}),
        ...(Number.isSafeInteger(config.max_lease_lifetime_s) ? { max_lease_lifetime_s: config.max_lease_lifetime_s } : {}),
        ...(config.host_groups && typeof config.host_groups === 'object' ? { host_groups: config.host_groups } : {}),
      },
    });
  });
}

function onWorkerMessage(event) {
  const m = event.data;
  if (m && m.t === 'rpc' && workerCalls.has(m.id) && typeof m.body === 'string') {
    const pending = workerCalls.get(m.id);
    workerCalls.delete(m.id);
    clearTimeout(pending.timer);
    pending.resolve(m.body);
  } else if (m && m.t === 'dropped') {
    stats.worker_dropped = m.count;
  } else if (m && (m.t === 'bound' || m.t === 'bind_failed') && bindWaiter) {
    const waiter = bindWaiter;
    bindWaiter = null;
    if (m.t === 'bound') waiter.resolve(m.app); else waiter.reject(new KmsFailure(typeof m.code === 'string' ? m.code : 'internal', String(m.message)));
  }
}

// Tells the engine which host this frame serves (the origin the handshake
// verified): its users are that host's app's users (docs/browser.md 2.6).
let bindWaiter = null;
function bindHost(origin) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      bindWaiter = null;
      reject(new KmsFailure('timeout', 'the engine did not take the host in time'));
    }, WORKER_START_TIMEOUT_MS);
    bindWaiter = {
      resolve: (app) => { clearTimeout(timer); resolve(app); },
      reject: (e) => { clearTimeout(timer); reject(e); },
    };
    worker.postMessage({ t: 'bind', origin });
  });
}

// One RPC to the engine: the JSON envelope of docs/rpc.md. Resolves with the
// result, throws KmsFailure with the engine's code.
function rpc(method, params) {
  const id = nextWorkerId++;
  const body = JSON.stringify({ v: PROTOCOL, id, method, params });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      workerCalls.delete(id);
      reject(new KmsFailure('timeout', `the engine did not answer ${method} in time`));
    }, WORKER_TIMEOUT_MS);
    workerCalls.set(id, {
      timer,
      resolve: (text) => {
        let response;
        try { response = JSON.parse(text); } catch { return reject(new KmsFailure('internal', 'unreadable engine response')); }
        if (response.id !== id) return reject(new KmsFailure('internal', 'engine response for another request'));
        if (response.error) {
          const e = response.error;
          return reject(new KmsFailure(e.code, e.message, e.retry_after_ms, e.first_bad_seq));
        }
        resolve(response.result);
      },
    });
    worker.postMessage({ t: 'rpc', id, body });
  });
}

// ---- the handshake --------------------------------------------------------

// Start-up: every step that waits on the network, the disk or a compile
// is begun at once (the configuration, the frame's modules, the storage
// probes, the engine), then each is awaited in the order they used to run
// one after another, so a failure is told at the same step, with the same
// code. Only `checkConfig`, the guard and `open` wait for the steps before.
let engine = null;
const started = (async () => {
  if (!window.isSecureContext) {
    throw new KmsFailure('insecure_context', 'the key manager needs a secure context: serve the KMS origin over https (or http://localhost)');
  }
  const configFetched = fetchConfig();
  configFetched.catch(() => {});
  const modulesLoaded = BUILD === null ? null : loadModules();
  modulesLoaded?.catch(() => {});
  engine = BUILD === null ? null : spawnEngine();
  const storageChecked = checkStorage();
  storageChecked.catch(() => {});
  rawConfig = await configFetched;
  if (BUILD === null) throw new KmsFailure('integrity', 'this page carries no build data: serve the bundle scripts/build-web.sh wrote');
  await modulesLoaded;
  try {
    config = checkConfig(rawConfig);
  } catch (e) {
    throw new KmsFailure('config_invalid', e.message);
  }
  await storageChecked;
  mark('checked');
  guard = new Guard($('kms-panel'),
    [$('kms-passphrase'), $('kms-passphrase-confirm'), $('kms-submit'), $('kms-passkey'), $('kms-gate-ack'), $('kms-confirm')],
    $('kms-guard'));
  const opened = await openEngine(engine);
  worker = opened.w;
  // `info` says which build runs: the id of the build this page checked
  // every module against (the engine has no way to know it).
  info = { ...opened.info, build: BUILD.build };
  mark('started');
  // The database is the only copy of the wrapped master secrets: ask the
  // browser not to evict it under storage pressure (best effort; the
  // browser may say no).
  navigator.storage?.persist?.().catch(() => {});
  // A stylesheet that failed its check (the page's boot script saw it).
  if (window.kmsIntegrityFailure) throw new KmsFailure('integrity', window.kmsIntegrityFailure);
  status(`Key manager ready (build ${BUILD.build.slice(0, 12)}).`);
})();
started.catch((e) => {
  status(`The key manager could not start: ${e.message}`);
  // A worker started beside a step that then failed goes too, and so
  // does one that started when a later check failed (a stylesheet).
  if (worker !== null) {
    worker.terminate();
    worker = null;
  } else {
    engine?.thread.then(({ w, url }) => { w.terminate(); URL.revokeObjectURL(url); }, () => {});
  }
});

// Who may connect: the page that embeds this frame, or, for a KMS page at
// the top (opened by `connect({popup: true})`), the page that opened it.
const hostWindow = window.parent !== window ? window.parent : window.opener;

// The host's one connect message: from that window, from an origin on the
// allowlist served by the KMS origin itself (never from a URL parameter),
// with exactly one port. The first valid one wins; every later window
// message is dropped.
window.addEventListener('message', async (event) => {
  const d = event.data;
  // (An opener must itself be at the top: a page framed by a third origin
  // could otherwise open a working KMS window for it, where a frame's
  // `frame-ancestors` would have stopped the load.)
  const valid = port === null && hostOrigin === null
    && hostWindow !== null && event.source === hostWindow
    && (hostWindow === window.parent || hostWindow.parent === hostWindow)
    && d !== null && typeof d === 'object' && d.t === 'kms:connect' && typeof d.v === 'number'
    && event.ports.length === 1;
  if (!valid) return drop();
  const refuse = (code, message) => event.ports[0].postMessage({ t: 'fatal', v: PROTOCOL, error: { code, message } });
  // A client of another protocol hears so at once (the versions are public:
  // manifest.json and every release say them), not a timeout.
  if (d.v !== PROTOCOL) {
    return refuse('incompatible', `this key manager speaks protocol ${PROTOCOL}; the page's client speaks protocol ${d.v}: use a client of the key manager's release line`);
  }
  // Said to an origin that is not on the list: that much, and nothing else
  // about the list.
  const notAllowed = () => refuse('origin_not_allowed',
    `${event.origin} is not allowed to use this key manager: its allowed_hosts (kms-config.json) do not list it`);
  try {
    await started;
  } catch (e) {
    const code = typeof e.code === 'string' ? e.code : 'internal';
    // An origin the served list names (verbatim) hears what went wrong.
    const listed = Array.isArray(rawConfig?.allowed_hosts) && rawConfig.allowed_hosts.includes(event.origin);
    if (listed) return refuse(code, e.message);
    // Anyone else: that the configuration is missing or unusable, or the
    // context can never work (nothing of the list is in those words);
    // which field is wrong is for a listed origin and the frame's status.
    if (code === 'config_missing' || code === 'insecure_context') return refuse(code, e.message);
    if (code === 'config_invalid') {
      // Not even JSON: there is no list in it to give away.
      if (rawConfig === null) return refuse(code, e.message);
      return refuse(code, "this key manager's kms-config.json is unusable: its status line (or an allowed host) says which field");
    }
    return notAllowed();
  }
  if (hostOrigin !== null) return drop();
  if (!config.allowed_hosts.includes(event.origin)) return notAllowed();
  hostOrigin = event.origin;
  mark('connect');
  try {
    await bindHost(hostOrigin);
  } catch (e) {
    event.ports[0].postMessage({ t: 'fatal', v: PROTOCOL, error: { code: e.code ?? 'internal', message: e.message } });
    status(`The key manager could not start: ${e.message}`);
    return;
  }
  mark('bound');
  port = event.ports[0];
  port.onmessage = onHostMessage;
  port.postMessage({ t: 'ready', v: PROTOCOL, info, build: BUILD.build });
  status(`Key manager ready for ${hostOrigin} (build ${BUILD.build.slice(0, 12)}).`);
});

// A KMS page at the top, opened by a page (`connect({popup: true})`): the
// opener cannot see it load (another origin), so it says it runs, to any
// origin (nothing in it is secret: the opener opened this page). It closes
// itself once its opener is gone: nobody can use its sessions any more.
if (window.parent === window && window.opener !== null) {
  window.opener.postMessage({ t: 'kms:hello', v: PROTOCOL }, '*');
  const watch = setInterval(() => {
    if (window.opener === null || window.opener.closed) {
      clearInterval(watch);
      window.close();
    }
  }, 1000);
}

// ---- host requests ----------------------------------------------------------

function reply(id, promise) {
  promise.then(
    (result) => port.postMessage({ t: 'result', id, ok: true, result }),
    (e) => {
      const error = { code: e.code ?? 'internal', message: e.code ? e.message : `unexpected failure: ${e.message}` };
      if (e.retryAfterMs !== undefined) error.retry_after_ms = e.retryAfterMs;
      if (e.firstBadSeq !== undefined) error.first_bad_seq = e.firstBadSeq;
      port.postMessage({ t: 'result', id, ok: false, error });
    },
  );
}

// One message from the host: decoded by frame-messages.js (the closed set
// of the header), then done.
function onHostMessage(event) {
  const m = decodeHostMessage(event.data, uiQueue.length);
  switch (m.kind) {
    case 'call':
      stats.calls += 1;
      return reply(m.id, direct(m.method, m.params));
    case 'ui':
      stats.ui += 1;
      return reply(m.id, enqueueUi(m.id, m.op, m.params));
    case 'refuse':
      if (event.data.t === 'call') stats.calls += 1; else stats.ui += 1;
      return reply(m.id, Promise.reject(new KmsFailure(m.code, m.message)));
    case 'cancel':
      return cancelUi(m.id);
    case 'stats':
      return reply(m.id, Promise.resolve({ ...stats, sessions: sessions.size }));
    default:
      return drop();
  }
}

function sessionOf(user) {
  const token = typeof user === 'string' ? sessions.get(user) : undefined;
  if (token === undefined) throw new KmsFailure('locked', 'no session: unlock first');
  return token;
}

// A direct call, its params checked by decodeHostMessage.
async function direct(method, params) {
  const withSession = DIRECT_METHODS.get(method);
  if (withSession && typeof params.user === 'string' && !sessions.has(params.user)) {
    // No session here. A user that does not exist is `not_found`, as
    // `unlock` would say, not `locked`, which would send the app to unlock
    // a user it must set up first.
    const { state } = await rpc('status', { user: params.user });
    if (state === 'unknown') throw new KmsFailure('not_found', `user ${params.user}`);
    if (state === 'deleted') throw new KmsFailure('user_deleted', `user ${params.user} was deleted`);
  }
  const sent = withSession ? { ...params, session: sessionOf(params.user) } : params;
  try {
    const result = await rpc(method, sent);
    if (method === 'lock' || method === 'user_delete') sessions.delete(params.user);
    if (method === 'info') return { ...result, build: BUILD.build };
    // Whether this frame holds a session of the user: only it knows.
    if (method === 'status') return { ...result, session: sessions.has(params.user) };
    return result;
  } catch (e) {
    if (withSession && e.code === 'locked') sessions.delete(params.user);
    throw e;
  }
}

// ---- the frame's own UI: passphrases, passkeys, confirmations ----------------

const uiQueue = [];
let uiCurrent = null;


function enqueueUi(id, op, params) {
  return new Promise((resolve, reject) => {
    uiQueue.push({ id, op, params, resolve, reject });
    if (uiCurrent === null) nextUi();
  });
}

function cancelUi(id) {
  const queued = uiQueue.findIndex((r) => r.id === id);
  if (queued >= 0) {
    const [r] = uiQueue.splice(queued, 1);
    r.reject(new KmsFailure('cancelled', 'cancelled by the page'));
  } else if (uiCurrent && uiCurrent.id === id) {
    // A re-key that is running may already have committed: the page hears
    // how it ended, never `cancelled` for a master secret that changed.
    if (uiCurrent.busy && uiCurrent.op === 'rekey') return drop();
    finishUi(new KmsFailure('cancelled', 'cancelled by the page'));
  } else {
    drop();
  }
}

function finishUi(error, result) {
  const r = uiCurrent;
  uiCurrent = null;
  $('kms-panel').hidden = true;
  guard.hidden();
  $('kms-passphrase').value = '';
  $('kms-passphrase-confirm').value = '';
  $('kms-username').value = '';
  $('kms-gate-ack').checked = false;
  $('kms-terms').replaceChildren();
  port.postMessage({ t: 'attention', needed: false });
  status(`Key manager ready for ${hostOrigin} (build ${BUILD.build.slice(0, 12)}).`);
  if (error) r.reject(error); else r.resolve(result);
  if (uiQueue.length > 0) nextUi();
}

const TITLES = {
  setup: (p) => `Set up keys for ${p.user}`,
  unlock: (p) => `Unlock the keys of ${p.user}`,
  add_enrollment: (p) => `Add a way to unlock for ${p.user}`,
  change_passphrase: (p) => `Change the passphrase of ${p.user}`,
  rekey: (p) => `Re-key ${p.user} after a compromise`,
};

// What a gate-mode passkey is, said before the user chooses one: it never
// reads the same as a PRF passkey.
const GATE_WARNING = 'Gate mode: this passkey only unlocks by the key manager\'s rule. It does not protect the keys at rest: '
  + 'anyone with a copy of this browser\'s storage can open them without the passkey.';

// Passkeys need WebAuthn in this frame, which some engines do not give it
// (WebKitGTK has no PublicKeyCredential): there the frame offers no
// passkey, and a request that can only be answered with one is
// `unsupported`, at once, instead of failing inside the ceremony.
function webAuthnHere() {
  return typeof window.PublicKeyCredential === 'function' && typeof navigator.credentials?.create === 'function';
}
const NO_PASSKEYS = 'this browser gives the key manager no passkeys (WebAuthn) here: use a passphrase';

// Whether this browser says it cannot evaluate PRF (false), or does not say
// (true: the ceremony then tells).
async function prfPossible() {
  try {
    const caps = await PublicKeyCredential.getClientCapabilities?.();
    return caps?.['extension:prf'] !== false;
  } catch {
    return true;
  }
}

// Which forms the request needs: a passphrase field, a passkey button, both;
// `gate`: the passkey is a gate-mode one (named as such, with its consequence).
async function methodsFor(op, params) {
  if (op === 'change_passphrase') return { passphrase: true, confirm: true };
  if (op === 'rekey') {
    const forms = await rekeyForms(params);
    if (forms.rekey.enrollments.some((e) => e.method === 'passkey_prf') && !webAuthnHere()) {
      throw new KmsFailure('unsupported', `${NO_PASSKEYS} (a re-key asks every passkey with PRF)`);
    }
    return forms;
  }
  if (op === 'unlock') {
    const { enrollments } = await rpc('list_enrollments', { user: params.user });
    // The page may name one enrollment: the panel offers that one only.
    const named = typeof params.enrollment_id === 'string';
    const has = (m) => enrollments.some((e) => e.method === m && (!named || e.id === params.enrollment_id));
    const wanted = params.method;
    const passphrase = has('passphrase') && (!wanted || wanted === 'passphrase');
    const prf = has('passkey_prf') && (!wanted || wanted === 'passkey_prf');
    const gate = has('passkey_gate') && (!wanted || wanted === 'passkey_gate');
    if (!passphrase && !prf && !gate) throw new KmsFailure('not_found', `no ${wanted ?? ''} enrollment for ${params.user}`.replace('  ', ' '));
    if (!webAuthnHere()) {
      if (!passphrase) throw new KmsFailure('unsupported', `${NO_PASSKEYS} (this unlock of ${params.user} can only be answered with a passkey)`);
      return { passphrase, passkey: false, gate: false, enrollments };
    }
    // passkeyUnlock asks a PRF passkey first when there is one.
    return { passphrase, passkey: prf || gate, gate: !prf && gate, enrollments };
  }
  if (!METHODS.has(params.method)) throw new KmsFailure('invalid_input', 'params.method: passphrase, passkey_prf or passkey_gate');
  if (params.method === 'passkey_gate' && config.allow_passkey_gate === false) {
    throw new KmsFailure('forbidden', 'this key manager does not allow gate-mode passkeys: use a passphrase or a passkey with PRF');
  }
  if (params.method === 'passphrase') return { passphrase: true, confirm: true };
  if (!webAuthnHere()) throw new KmsFailure('unsupported', NO_PASSKEYS);
  if (params.method === 'passkey_prf' && !(await prfPossible())) {
    throw new KmsFailure('unsupported', 'this browser says it cannot use the PRF extension of passkeys: use a passphrase or a gate-mode passkey');
  }
  return { passkey: true, gate: params.method === 'passkey_gate', ack: params.method === 'passkey_gate' };
}

// A re-key (engine/rekey.rs): what the panel says it will do, from the
// user's enrollments. Passphrase enrollments take the passphrase typed in
// the panel; each PRF passkey is asked for in turn; gate-mode passkeys are
// wrapped again by the engine; damaged records go.
async function rekeyForms(params) {
  const { enrollments, damaged = [] } = await rpc('list_enrollments', { user: params.user });
  const count = (m) => enrollments.filter((e) => e.method === m).length;
  const [pass, prf, gate] = [count('passphrase'), count('passkey_prf'), count('passkey_gate')];
  // Short lines: the panel must fit the frame whole, or the guard keeps
  // its fields disabled (frame-guard.js).
  const lines = ['New master secret: a copy of this storage from before opens nothing made after.'];
  if (pass > 0) lines.push(`Passphrase (${pass}): type a new one below.`);
  if (prf > 0) lines.push(`Passkeys (${prf}): each asked for in turn.`);
  if (gate > 0) lines.push(`Gate-mode passkeys (${gate}): kept; they never protect the keys at rest.`);
  if (damaged.length > 0) lines.push(`Damaged records (${damaged.length}): removed.`);
  lines.push('VAPID and audit keys are re-sealed, not replaced: rotate the VAPID key next.');
  lines.push('Other tabs must unlock again.');
  // Without a passphrase enrollment, the passkey button starts it.
  return { passphrase: pass > 0, confirm: pass > 0, passkey: pass === 0, lines, rekey: { enrollments, damaged } };
}

// Runs the re-key the panel described; `passphrase` is the typed one (or
// null without a passphrase enrollment).
async function rekeyWith(r, passphrase) {
  const { user } = r.params;
  const { enrollments, damaged } = r.forms.rekey;
  const rewrap = enrollments.filter((e) => e.method === 'passphrase')
    .map((e) => ({ enrollment_id: e.id, credential: { kind: 'passphrase', passphrase } }));
  for (const e of enrollments.filter((x) => x.method === 'passkey_prf')) {
    status(`Present the passkey ${e.label ? `"${e.label}"` : e.id}…`);
    const prf_output = await prfOutput(e.credential_id, unb64url(e.prf_salt), null);
    rewrap.push({ enrollment_id: e.id, credential: { kind: 'passkey_prf', prf_output } });
  }
  // Kept as the panel said (the user confirmed by going on).
  for (const e of enrollments.filter((x) => x.method === 'passkey_gate')) {
    rewrap.push({ enrollment_id: e.id, credential: { kind: 'passkey_gate' } });
  }
  status('Re-keying…');
  const result = await rpc('rekey', { user, session: sessionOf(user), rewrap, remove: damaged });
  sessions.set(result.user, result.session);
  return { user: result.user, expires_ms: result.expires_ms, enrollments: result.enrollments, removed: result.removed, resealed_keys: result.resealed_keys };
}

function passkeyButtonText(op, forms) {
  if (op === 'rekey') return 'Re-key (asks for each passkey)';
  if (op === 'unlock') return forms.gate ? 'Unlock with a gate-mode passkey' : 'Unlock with a passkey';
  return forms.gate ? 'Create a gate-mode passkey' : 'Create a passkey (protects the keys at rest)';
}

function showLines(lines) {
  $('kms-terms').replaceChildren(...lines.map((text) => {
    const li = document.createElement('li');
    li.textContent = text;
    return li;
  }));
  $('kms-terms').hidden = lines.length === 0;
}

// The user's session added to a method that needs one (for the reads a
// confirmation panel makes).
function withSession(method, params) {
  return rpc(method, DIRECT_METHODS.get(method) ? { ...params, session: sessionOf(params.user) } : params);
}

async function nextUi() {
  const r = uiQueue.shift();
  uiCurrent = r;
  const { op, params } = r;
  try {
    // Checked before anything shows it.
    checkUser(params.user);
    if (op === 'setup' || op === 'add_enrollment') checkLabel(params.label);
    if (op !== 'setup' && op !== 'unlock') sessionOf(params.user);
    let forms = {};
    let confirmation = null;
    if (CONFIRM_OPS.has(op)) {
      const maxLeaseLifetimeS = Number.isSafeInteger(config.max_lease_lifetime_s) ? config.max_lease_lifetime_s : DEFAULT_MAX_LEASE_LIFETIME_S;
      confirmation = await describe(op, params, withSession, { maxLeaseLifetimeS });
    }
    else forms = await methodsFor(op, params);
    // The page may have cancelled while the frame was reading.
    if (uiCurrent !== r) return;
    r.forms = forms;
    r.confirmation = confirmation;
    $('kms-title').textContent = confirmation ? confirmation.title : TITLES[op](params);
    $('kms-origin').textContent = `Asked by ${hostOrigin}`;
    showLines(confirmation ? confirmation.lines : forms.lines ?? (forms.gate ? [GATE_WARNING] : []));
    $('kms-gate-field').hidden = !forms.ack;
    $('kms-passphrase-fields').hidden = !forms.passphrase;
    $('kms-submit').hidden = !forms.passphrase;
    $('kms-confirm-field').hidden = !forms.confirm;
    $('kms-submit').textContent = op === 'unlock' ? 'Unlock' : op === 'rekey' ? 'Re-key' : 'Save';
    $('kms-passphrase').autocomplete = forms.confirm ? 'new-password' : 'current-password';
    // Checked by checkUser above: a plain user id.
    $('kms-username').value = forms.passphrase ? params.user : '';
    $('kms-passkey').hidden = !forms.passkey;
    $('kms-passkey').textContent = passkeyButtonText(op, forms);
    $('kms-confirm').hidden = confirmation === null;
    $('kms-confirm').textContent = confirmation ? confirmation.action : '';
    $('kms-confirm').classList.toggle('danger', confirmation?.danger === true);
    $('kms-error').textContent = '';
    $('kms-panel').hidden = false;
    guard.shown();
    status('Waiting for you.');
    port.postMessage({ t: 'attention', needed: true });
    focusPanel();
  } catch (e) {
    if (uiCurrent === r) finishUi(e.code ? e : new KmsFailure('internal', e.message));
  }
}

// A refusal the user can retry in place (wrong passphrase, back-off):
// shown in the frame; the page's request stays pending.
function showRetryable(e) {
  if (e.code === 'throttled') {
    const s = Math.ceil((e.retryAfterMs ?? 1000) / 1000);
    $('kms-error').textContent = `Too many failed attempts. Try again in ${s} s.`;
  } else if (e.code === 'unlock_failed') {
    $('kms-error').textContent = 'Wrong passphrase or passkey.';
  } else {
    $('kms-error').textContent = e.message;
  }
}
const RETRYABLE = new Set(['unlock_failed', 'throttled', 'invalid_input']);

// `working`: what the frame says while the action runs (a passphrase takes
// PBKDF2 at several hundred thousand iterations: a visible pause).
async function runUi(action, working) {
  const r = uiCurrent;
  if (r === null || r.busy) return;
  r.busy = true;
  $('kms-error').textContent = '';
  status(working);
  try {
    const result = await action(r);
    if (uiCurrent === r) {
      finishUi(null, result);
    } else if (result && typeof result.expires_ms === 'number' && sessions.has(result.user)) {
      // The page cancelled (or timed out) while the engine was opening a
      // session: the page was told it failed, so the session must not
      // linger here either.
      const session = sessions.get(result.user);
      sessions.delete(result.user);
      rpc('lock', { user: result.user, session }).catch(() => {});
    }
  } catch (e) {
    if (uiCurrent !== r) return;
    // A confirmed operation that fails is over: the page hears why.
    if (!CONFIRM_OPS.has(r.op) && (RETRYABLE.has(e.code) || e.name === 'NotAllowedError')) {
      showRetryable(e.name === 'NotAllowedError' ? new KmsFailure('cancelled', 'The passkey prompt was dismissed.') : e);
    } else {
      finishUi(e.code ? e : new KmsFailure('internal', e.message));
    }
  } finally {
    r.busy = false;
    if (uiCurrent === r) status('Waiting for you.');
  }
}

// What the host gets back for a session: who, until when, which enrollment.
function opened(result) {
  sessions.set(result.user, result.session);
  return { user: result.user, expires_ms: result.expires_ms, enrollment: result.enrollment, rewrapped: result.rewrapped };
}

async function submitPassphrase(r) {
  const passphrase = $('kms-passphrase').value;
  if (r.forms.confirm && passphrase !== $('kms-passphrase-confirm').value) {
    throw new KmsFailure('invalid_input', 'The two passphrases differ.');
  }
  const { op, params } = r;
  const label = typeof params.label === 'string' ? params.label : undefined;
  const enrollment = { kind: 'passphrase', passphrase };
  switch (op) {
    case 'setup':
      return opened(await rpc('setup', { user: params.user, enrollment, label }));
    case 'unlock': {
      const p = { user: params.user, credential: enrollment };
      if (typeof params.enrollment_id === 'string') p.enrollment_id = params.enrollment_id;
      return opened(await rpc('unlock', p));
    }
    case 'add_enrollment':
      return rpc('add_enrollment', { user: params.user, session: sessionOf(params.user), enrollment, label });
    case 'change_passphrase': {
      const p = { user: params.user, session: sessionOf(params.user), new_passphrase: passphrase };
      if (typeof params.enrollment_id === 'string') p.enrollment_id = params.enrollment_id;
      return rpc('change_passphrase', p);
    }
    case 'rekey':
      return rekeyWith(r, passphrase);
    default:
      throw new KmsFailure('invalid_input', 'unknown operation');
  }
}

// ---- WebAuthn (PRF and gate) ----------------------------------------------

function b64url(bytes) {
  const b = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
function unb64url(text) {
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}
function random(n) { return crypto.getRandomValues(new Uint8Array(n)); }

async function createPasskey(user, prfSalt) {
  const publicKey = {
    rp: { id: info.rp_id, name: 'Key manager' },
    // A random handle: the authenticator never learns the KMS user id.
    user: { id: random(16), name: user, displayName: user },
    challenge: random(32),
    pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
    attestation: 'none',
    timeout: 120_000,
  };
  if (prfSalt) publicKey.extensions = { prf: { eval: { first: prfSalt } } };
  return navigator.credentials.create({ publicKey });
}

async function prfOutput(credentialId, salt, existing) {
  const first = existing?.getClientExtensionResults?.().prf?.results?.first;
  if (first) return b64url(first);
  // Not every authenticator evaluates PRF at creation: ask once more.
  const assertion = await navigator.credentials.get({
    publicKey: {
      challenge: random(32),
      rpId: info.rp_id,
      allowCredentials: [{ type: 'public-key', id: unb64url(credentialId) }],
      userVerification: 'required',
      extensions: { prf: { eval: { first: salt } } },
      timeout: 120_000,
    },
  });
  const out = assertion.getClientExtensionResults().prf?.results?.first;
  if (!out) throw new KmsFailure('invalid_input', 'This passkey does not support the PRF extension: choose gate mode or a passphrase.');
  return b64url(out);
}

async function newPasskeyEnrollment(user, method) {
  if (method === 'passkey_prf') {
    const { ceremony_id, prf_salt } = await rpc('prf_begin', { user });
    const salt = unb64url(prf_salt);
    const credential = await createPasskey(user, salt);
    const credential_id = b64url(credential.rawId);
    const prf_output = await prfOutput(credential_id, salt, credential);
    return { kind: 'passkey_prf', ceremony_id, credential_id, prf_output };
  }
  const credential = await createPasskey(user, null);
  const spki = credential.response.getPublicKey?.();
  if (!spki) throw new KmsFailure('invalid_input', 'The browser did not give the passkey public key.');
  return { kind: 'passkey_gate', credential_id: b64url(credential.rawId), public_key: b64url(spki) };
}

async function passkeyUnlock(r) {
  const { params } = r;
  // The page may narrow the choice: a method, an enrollment.
  const enrollments = r.forms.enrollments.filter((e) => (e.method === 'passkey_prf' || e.method === 'passkey_gate')
    && (!params.method || params.method === e.method)
    && (typeof params.enrollment_id !== 'string' || params.enrollment_id === e.id));
  if (enrollments.length === 0) throw new KmsFailure('not_found', `no such passkey enrollment for ${params.user}`);
  const prf = enrollments.filter((e) => e.method === 'passkey_prf');
  if (prf.length > 0) {
    const evalByCredential = {};
    for (const e of prf) evalByCredential[e.credential_id] = { first: unb64url(e.prf_salt) };
    const assertion = await navigator.credentials.get({
      publicKey: {
        challenge: random(32),
        rpId: info.rp_id,
        allowCredentials: prf.map((e) => ({ type: 'public-key', id: unb64url(e.credential_id) })),
        userVerification: 'required',
        extensions: { prf: { evalByCredential } },
        timeout: 120_000,
      },
    });
    const out = assertion.getClientExtensionResults().prf?.results?.first;
    if (!out) throw new KmsFailure('unlock_failed', 'the passkey gave no PRF output');
    const credential = { kind: 'passkey_prf', credential_id: b64url(assertion.rawId), prf_output: b64url(out) };
    return opened(await rpc('unlock', { user: params.user, credential }));
  }
  const gate = enrollments[0];
  const challenge = await rpc('gate_begin', { user: params.user, enrollment_id: gate.id });
  const assertion = await navigator.credentials.get({
    publicKey: {
      challenge: unb64url(challenge.challenge),
      rpId: challenge.rp_id,
      allowCredentials: [{ type: 'public-key', id: unb64url(challenge.credential_id) }],
      userVerification: 'required',
      timeout: 120_000,
    },
  });
  const credential = { kind: 'passkey_gate', ceremony_id: challenge.ceremony_id, assertion: assertion.toJSON() };
  return opened(await rpc('unlock', { user: params.user, enrollment_id: challenge.enrollment_id, credential }));
}

async function submitPasskey(r) {
  const { op, params } = r;
  const label = typeof params.label === 'string' ? params.label : undefined;
  if (op === 'unlock') return passkeyUnlock(r);
  if (op === 'rekey') return rekeyWith(r, null);
  const enrollment = await newPasskeyEnrollment(params.user, params.method);
  if (op === 'setup') return opened(await rpc('setup', { user: params.user, enrollment, label }));
  return rpc('add_enrollment', { user: params.user, session: sessionOf(params.user), enrollment, label });
}

// A confirmed operation: exactly the request the panel described, with the
// user's session.
async function submitConfirmed(r) {
  const { request } = r.confirmation;
  const result = await rpc(r.op, { ...request, session: sessionOf(request.user) });
  if (r.op === 'user_delete') sessions.delete(request.user);
  return result;
}

// Every action passes the guard: a trusted event on a panel that has been
// fully visible long enough (frame-guard.js). Anything else does nothing.
function guarded(handler) {
  return (event) => {
    event.preventDefault();
    if (uiCurrent === null || !guard.allows(event)) return;
    handler();
  };
}

$('kms-panel').addEventListener('submit', guarded(() => {
  runUi(submitPassphrase, 'Deriving the key from the passphrase (PBKDF2)…');
}));
$('kms-passkey').addEventListener('click', guarded(() => {
  if (uiCurrent.forms.ack && !$('kms-gate-ack').checked) {
    $('kms-error').textContent = 'Tick the box above to choose a gate-mode passkey.';
    return;
  }
  runUi(submitPasskey, 'Waiting for the passkey…');
}));
// Where keys typed while the panel is open go: the passphrase field, else
// Cancel. Keys pressed for something else thus land there, never on an
// action (Tab from Cancel leaves the frame). WebKit refuses focus() in a
// cross-origin frame the user has not interacted with: there the panel
// says to click the field, until it has the focus.
const CLICK_TO_TYPE = 'Waiting for you: click the passphrase field to type.';
function focusPanel() {
  if (uiCurrent === null || $('kms-panel').hidden) return;
  const passphrase = !$('kms-passphrase-fields').hidden;
  const target = passphrase ? $('kms-passphrase') : $('kms-cancel');
  target.focus();
  if (passphrase && document.activeElement !== target) status(CLICK_TO_TYPE);
}
$('kms-passphrase').addEventListener('focus', () => {
  if ($('kms-status').textContent === CLICK_TO_TYPE) status('Waiting for you.');
});
// A confirmation by keyboard (a click event with `detail` 0) counts only if
// the user moved the focus to the button after the panel armed, and the
// button then had it for KEY_DWELL_MS: a key meant for something else
// cannot confirm what just appeared, and neither can a Tab or Shift+Tab
// meant for something else followed by Enter (Shift+Tab from Cancel reaches
// the button; in WebKit a Tab from Cancel can wrap round to it).
// A refused key press spends the focus: only a new arrival on the button
// (a `focus` event) counts again, so neither a second press nor a held key
// (whose repeats are refused outright) gets round the rule.
const KEY_DWELL_MS = 500;
let confirmFocusedAt = -Infinity;
$('kms-confirm').addEventListener('focus', () => { confirmFocusedAt = performance.now(); });
$('kms-confirm').addEventListener('keydown', (event) => {
  if (event.repeat) event.preventDefault();
});
$('kms-confirm').addEventListener('click', (event) => {
  if (event.detail === 0 && !(confirmFocusedAt >= guard.armedSince() && performance.now() - confirmFocusedAt >= KEY_DWELL_MS)) {
    event.preventDefault();
    confirmFocusedAt = Infinity;
    $('kms-error').textContent = 'Move to the button again to confirm with the keyboard.';
    return;
  }
  guarded(() => runUi(submitConfirmed, 'Working…'))(event);
});
$('kms-cancel').addEventListener('click', () => {
  if (uiCurrent && uiCurrent.busy && uiCurrent.op === 'rekey') return;
  if (uiCurrent) finishUi(new KmsFailure('cancelled', 'cancelled in the key manager'));
});
