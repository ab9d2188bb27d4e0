// The per-engine unlock benchmark (not a test): in the browser of ENGINE
// (KMS_E2E_ENGINE, as the e2e harness), the release bundle, one run. Each
// of SAMPLES samples starts a new browser (Firefox keeps PBKDF2 results for
// the life of its process: a second unlock with the same passphrase and
// salt there costs no PBKDF2), loads the native store fixture into a new
// IndexedDB database and unlocks its user once, beside one bare WebCrypto
// PBKDF2 of a fresh salt in the same page (unlock.js). Prints medians and
// the ratio; docs/benchmarks.md reports them.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, browser, repo, ENGINE } from '../e2e/harness.mjs';

const SAMPLES = 7;
const here = fileURLToPath(new URL('.', import.meta.url));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const benchRoot = mkdtempSync(join(tmpdir(), 'kms-bench-unlock-'));
cpSync(join(repo, 'target/web/kms'), benchRoot, { recursive: true });
for (const f of ['unlock.html', 'unlock.js', 'bench-common.js']) cpSync(join(here, f), join(benchRoot, f));
cpSync(join(repo, 'kms-worker/tests/fixtures/native-store.json'), join(benchRoot, 'native-store.json'));
const server = await serve({ extraSite: benchRoot });

const samples = [];
let version = '';
try {
  for (let i = 0; i < SAMPLES; i++) {
    const b = await browser();
    try {
      version ||= b.version?.() ?? '';
      const page = await (await b.newContext()).newPage();
      await page.goto(`${server.origins.extra}/unlock.html`);
      await page.waitForFunction(() => window.benchResult !== undefined, null, { timeout: 120_000 });
      const r = await page.evaluate(() => window.benchResult);
      if (r.error) throw new Error(r.error);
      samples.push(r);
    } finally {
      await b.close();
    }
  }
} finally {
  server.close();
  rmSync(benchRoot, { recursive: true, force: true });
}
const unlock = median(samples.map((s) => s.unlock_ms));
const bare = median(samples.map((s) => s.bare_pbkdf2_ms));
const r = {
  engine: `${ENGINE} ${version}`.trim(),
  samples: SAMPLES,
  unlock_ms: unlock,
  bare_pbkdf2_ms: bare,
  unlock_ratio: unlock / bare,
  repeated_pbkdf2_ms: median(samples.map((s) => s.repeated_pbkdf2_ms)),
  unlock_each_ms: samples.map((s) => Math.round(s.unlock_ms)).join(' '),
  bare_each_ms: samples.map((s) => Math.round(s.bare_pbkdf2_ms)).join(' '),
};
const f = (x) => (typeof x === 'number' && !Number.isInteger(x) ? x.toFixed(2) : String(x));
for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(20)} ${f(v)}`);
