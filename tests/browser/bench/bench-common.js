// What the two benchmark pages share (bench.js, unlock.js): the engine
// worker started as the frame starts it, its RPCs, and bare WebCrypto
// PBKDF2. Served next to a copy of the KMS bundle.
export const ITERATIONS = 600_000;
/** Starts the engine worker over the IndexedDB database `dbName`. */
export async function startWorker(dbName) {
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
    w.postMessage({ t: 'open', module, options: { db_name: dbName, allowed_hosts: [location.origin] } });
  });
}

// Deletes one record of the worker's database (the engine's chain mark, so
// that the next unlock checks the whole log from K_0).
export function deleteRecord(dbName, key) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(dbName);
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
export function rpc(w, method, params) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, (body) => {
      const r = JSON.parse(body);
      r.error ? reject(new Error(`${method}: ${r.error.code}: ${r.error.message}`)) : resolve(r.result);
    });
    w.postMessage({ t: 'rpc', id, body: JSON.stringify({ v: 1, id, method, params }) });
  });
}
export function listen(w) {
  w.addEventListener('message', (e) => {
    if (e.data.t === 'rpc' && waiting.has(e.data.id)) {
      const f = waiting.get(e.data.id);
      waiting.delete(e.data.id);
      f(e.data.body);
    }
  });
}

export const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
export async function time(f) { const t = performance.now(); await f(); return performance.now() - t; }

export async function barePbkdf2(passphrase, salt) {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(passphrase), 'PBKDF2', false, ['deriveBits']);
  return crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations: ITERATIONS }, key, 256);
}

