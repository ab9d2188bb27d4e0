// The page of the per-engine unlock benchmark (unlock-engines.mjs drives
// it), served next to a copy of the KMS bundle and of the native store
// fixture (kms-worker/tests/fixtures/native-store.json: alice with a
// passphrase enrollment at the default 600,000 iterations). It loads the
// fixture's records into a new IndexedDB database, starts the engine over
// it and unlocks alice once (PBKDF2-HMAC-SHA256 through WebCrypto, HKDF,
// AES-GCM unwrap, the audit entry and checkpoint, one IndexedDB write),
// beside one bare WebCrypto PBKDF2 of a fresh salt; then it times one bare
// PBKDF2 repeated with the same passphrase and salt, which shows whether
// the engine keeps PBKDF2 results (Firefox does, for the life of its
// process: the driver therefore starts a new browser for every sample).
// Results land in window.benchResult. Not a test: nothing here asserts.
import { startWorker, rpc, listen, time, barePbkdf2 } from './bench-common.js';

const unb64 = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

// Writes `records` (key -> base64url bytes) into a new database `name`, as
// the IndexedDB store lays them out (schema version 1, store `records`).
function load(name, records) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore('records');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction('records', 'readwrite');
      for (const [key, value] of Object.entries(records)) tx.objectStore('records').put(unb64(value), key);
      tx.oncomplete = () => { db.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
  });
}

async function run() {
  const fx = await (await fetch('./native-store.json')).json();
  const db = `kms-bench-unlock-${Date.now()}`;
  await load(db, fx.records);
  const w = await startWorker(db);
  listen(w);
  // WebCrypto's first PBKDF2 in a process may carry its set-up: one
  // iteration of another key first.
  const warm = await crypto.subtle.importKey('raw', new TextEncoder().encode('warm-up'), 'PBKDF2', false, ['deriveBits']);
  await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: new Uint8Array(16), iterations: 1 }, warm, 256);
  const result = {};
  result.bare_pbkdf2_ms = await time(() => barePbkdf2(fx.passphrase, crypto.getRandomValues(new Uint8Array(16))));
  result.unlock_ms = await time(() => rpc(w, 'unlock', { user: fx.user, credential: { kind: 'passphrase', passphrase: fx.passphrase } }));
  const salt = crypto.getRandomValues(new Uint8Array(16));
  await barePbkdf2('repeat', salt);
  result.repeated_pbkdf2_ms = await time(() => barePbkdf2('repeat', salt));
  return result;
}

run().then(
  (r) => { window.benchResult = r; document.getElementById('out').textContent = JSON.stringify(r, null, 2); },
  (e) => { window.benchResult = { error: String(e.message ?? e) }; },
);
