// The browser benchmark's engine half, served next to a copy of the KMS
// bundle: it starts the real engine worker (kms-engine.js, the release WASM) directly and
// times the engine through its message boundary, beside bare WebCrypto
// measured in the same page and run. Results land in window.benchResult;
// bench.mjs drives it and prints them. Not a test: nothing here asserts.
const ITERATIONS = 600_000;
const out = document.getElementById('out');

const DB_NAME = `kms-bench-${Date.now()}`;

async function startWorker() {
  // As the frame does: the engine's script and its WASM (compiled here) from
  // the bundle; the frame also checks both against the page's build data.
  const module = await WebAssembly.compileStreaming(fetch('./pkg/kms_worker_bg.wasm'));
  return new Promise((resolve, reject) => {
    const w = new Worker('./kms-engine.js', { type: 'module' });
    // Open, then bind the engine to the host it serves (here this page's
    // own origin), after which it answers calls.
    w.onmessage = (e) => {
      if (e.data.t === 'ready') w.postMessage({ t: 'bind', origin: location.origin });
      else if (e.data.t === 'bound') resolve(w);
      else if (e.data.t === 'fatal' || e.data.t === 'bind_failed') reject(new Error(e.data.message));
    };
    w.postMessage({ t: 'open', module, options: { db_name: DB_NAME, allowed_hosts: [location.origin] } });
  });
}

// Deletes one record of the worker's database (the engine's chain mark, so
// that the next unlock checks the whole log from K_0).
function deleteRecord(key) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB_NAME);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction('records', 'readwrite');
      tx.objectStore('records').delete(key);
      tx.oncomplete = () => { db.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
    open.onerror = () => reject(open.error);
  });
}

let nextId = 1;
const waiting = new Map();
function rpc(w, method, params) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, (body) => {
      const r = JSON.parse(body);
      r.error ? reject(new Error(`${method}: ${r.error.code}: ${r.error.message}`)) : resolve(r.result);
    });
    w.postMessage({ t: 'rpc', id, body: JSON.stringify({ v: 1, id, method, params }) });
  });
}
function listen(w) {
  w.addEventListener('message', (e) => {
    if (e.data.t === 'rpc' && waiting.has(e.data.id)) {
      const f = waiting.get(e.data.id);
      waiting.delete(e.data.id);
      f(e.data.body);
    }
  });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
async function time(f) { const t = performance.now(); await f(); return performance.now() - t; }

async function barePbkdf2(passphrase, salt) {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(passphrase), 'PBKDF2', false, ['deriveBits']);
  return crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations: ITERATIONS }, key, 256);
}

async function run() {
  const result = {};
  let w;
  result.worker_ready_ms = await time(async () => { w = await startWorker(); });
  listen(w);
  const user = 'bench';
  const passphrase = 'a benchmark passphrase of some length';
  const setup = await rpc(w, 'setup', { user, enrollment: { kind: 'passphrase', passphrase } });
  let session = setup.session;
  await rpc(w, 'vapid_generate', { user, session });

  // Unlock (PBKDF2 600,000 by WebCrypto, then HKDF, AES-GCM, the audit entry
  // and checkpoint in IndexedDB) against bare WebCrypto PBKDF2 600,000,
  // interleaved so both see the same machine state.
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const unlock = [];
  const bare = [];
  for (let i = 0; i < 11; i++) {
    unlock.push(await time(async () => {
      session = (await rpc(w, 'unlock', { user, credential: { kind: 'passphrase', passphrase } })).session;
    }));
    bare.push(await time(() => barePbkdf2(passphrase, salt)));
  }
  result.unlock_ms = median(unlock);
  result.bare_pbkdf2_ms = median(bare);

  // JWT signing through the engine vs a bare WebCrypto ECDSA P-256 sign.
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const claims = { aud: 'https://fcm.googleapis.com', exp, sub: 'mailto:bench@example.com' };
  const ec = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const data = new TextEncoder().encode('eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJodHRwczovL2ZjbS5nb29nbGVhcGlzLmNvbSJ9');
  const jwt = [];
  const ecdsa = [];
  for (let i = 0; i < 101; i++) {
    jwt.push(await time(() => rpc(w, 'sign_jwt', { user, session, claims })));
    ecdsa.push(await time(() => crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, ec.privateKey, data)));
  }
  result.jwt_ms = median(jwt);
  result.bare_ecdsa_ms = median(ecdsa);

  // Where a call's time goes: the message boundary alone (a call that
  // touches neither IndexedDB nor a key: session_status), and one bare
  // IndexedDB readwrite transaction of one small record in this page.
  const boundary = [];
  const idb = [];
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open(`bench-bare-${Date.now()}`, 1);
    open.onupgradeneeded = () => open.result.createObjectStore('r');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const record = new Uint8Array(400);
  for (let i = 0; i < 101; i++) {
    boundary.push(await time(() => rpc(w, 'session_status', { user, session })));
    idb.push(await time(() => new Promise((resolve, reject) => {
      const tx = db.transaction('r', 'readwrite');
      tx.objectStore('r').put(record, `k${i}`);
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    })));
  }
  db.close();
  result.boundary_ms = median(boundary);
  result.bare_idb_write_ms = median(idb);

  // A relay's 10-token batch under a lease.
  const lease = await rpc(w, 'lease_create', { user, session, lease: { relay: 'relay-1', audiences: ['https://fcm.googleapis.com'], lifetime_s: 86400, tokens_per_hour: 3600, max_batch: 10 } });
  const batch = [];
  for (let i = 0; i < 21; i++) {
    batch.push(await time(() => rpc(w, 'lease_issue', { user, credential: lease.credential, request: { aud: 'https://fcm.googleapis.com', sub: 'mailto:bench@example.com', count: 10, ttl_s: 3600 } })));
  }
  result.lease_batch_10_ms = median(batch);

  // A new VAPID key (generated by WebCrypto, sealed, reopened
  // non-extractable; the user record, the key record and the audit entry in
  // one write): vapid_rotate, which makes one each time.
  const keygen = [];
  for (let i = 0; i < 11; i++) {
    keygen.push(await time(() => rpc(w, 'vapid_rotate', { user, session })));
  }
  result.vapid_generate_ms = median(keygen);

  // Grow the log to 1,000 entries, then export and verify it.
  let entries = (await rpc(w, 'audit_export', { user, session })).entries;
  while (entries < 999) {
    await rpc(w, 'sign_jwt', { user, session, claims });
    entries += 1;
  }
  const exports = [];
  const verifies = [];
  let exported;
  for (let i = 0; i < 5; i++) {
    exports.push(await time(async () => { exported = await rpc(w, 'audit_export', { user, session }); }));
    verifies.push(await time(async () => {
      const report = await rpc(w, 'audit_verify', { export: exported.export });
      if (!report.valid) throw new Error('the export did not verify');
    }));
  }
  result.audit_entries = exported.entries;
  result.audit_export_bytes = exported.export.length;
  result.audit_export_ms = median(exports);
  result.audit_verify_ms = median(verifies);

  // Unlock as the log grows. Before it signs its checkpoint, unlock checks
  // the stored chain from the engine's last mark (a full check from K_0
  // when there is none). Each unlock is timed beside a bare PBKDF2.
  const unlockOnce = async (before) => {
    await rpc(w, 'lock', { user, session });
    if (before) await before();
    const ms = await time(async () => {
      session = (await rpc(w, 'unlock', { user, credential: { kind: 'passphrase', passphrase } })).session;
    });
    return [ms, await time(() => barePbkdf2(passphrase, salt))];
  };
  const ratioOf = (pairs) => median(pairs.map(([e, b]) => e / b));
  const scenario = async (name, runs, before) => {
    const pairs = [];
    for (let i = 0; i < runs; i++) pairs.push(await unlockOnce(before));
    result[`${name}_ms`] = median(pairs.map(([e]) => e));
    result[`${name}_ratio`] = ratioOf(pairs);
  };
  const mark = `users/${user}/audit/mark`;
  // A lease for the current key (vapid_rotate above ended the first one).
  const relayLease = await rpc(w, 'lease_create', { user, session, lease: { relay: 'relay-2', audiences: ['https://fcm.googleapis.com'], lifetime_s: 86400, tokens_per_hour: 3600, max_batch: 10 } });
  await scenario('unlock_log_1k', 5);
  await scenario('unlock_log_1k_full_check', 5, () => deleteRecord(mark));
  // 1,000 tokens a relay takes while the user is locked, before each unlock.
  await scenario('unlock_after_1k_locked', 3, async () => {
    for (let i = 0; i < 100; i++) {
      await rpc(w, 'lease_issue', { user, credential: relayLease.credential, request: { aud: 'https://fcm.googleapis.com', sub: 'mailto:bench@example.com', count: 10, ttl_s: 3600 } });
    }
  });
  // The log at 10,000 entries.
  entries = (await rpc(w, 'audit_export', { user, session })).entries;
  while (entries < 10_000) {
    await rpc(w, 'sign_jwt', { user, session, claims });
    entries += 1;
  }
  result.unlock_log_entries = entries;
  await scenario('unlock_log_10k', 5);
  await scenario('unlock_log_10k_full_check', 3, () => deleteRecord(mark));
  w.terminate();
  return result;
}

window.benchResult = run().then(
  (r) => { out.textContent = JSON.stringify(r, null, 2); return r; },
  (e) => { out.textContent = `failed: ${e.message}`; return { error: e.message }; },
);
