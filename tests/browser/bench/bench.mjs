// The browser benchmark (not a test): headless Chromium, the release bundle,
// one run. Prints the figures docs/benchmarks.md reports:
// - KMS ready time in the real topology (host page: iframe created ->
//   handshake -> worker, WASM, IndexedDB -> first RPC answered), cold (a
//   fresh profile) and warm (a reload with caches), and, for the cold
//   starts, when each of the frame's start-up milestones was reached;
// - engine timings against bare WebCrypto in the same page (bench.js);
// - the WASM size, raw and gzipped.
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, browser, repo } from '../e2e/harness.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

// The bench origin: a copy of the KMS bundle plus the bench page.
const benchRoot = mkdtempSync(join(tmpdir(), 'kms-bench-'));
cpSync(join(repo, 'target/web/kms'), benchRoot, { recursive: true });
cpSync(join(here, 'bench.html'), join(benchRoot, 'bench.html'));
cpSync(join(here, 'bench.js'), join(benchRoot, 'bench.js'));
cpSync(join(here, 'bench-common.js'), join(benchRoot, 'bench-common.js'));
cpSync(join(here, 'bare-frame.html'), join(benchRoot, 'bare-frame.html'));
cpSync(join(here, 'bare-frame.js'), join(benchRoot, 'bare-frame.js'));

// Four free loopback ports, picked by the system (the harness's serve()).
const server = await serve({ extraSite: benchRoot });
const chromium = await browser();
try {
  // Ready time: from Kms.connect() (the iframe is created) to the KMS
  // answering its first RPC (the handshake completes after the worker has
  // loaded the WASM, opened IndexedDB and answered `info`).
  const connectOnce = (page) => page.evaluate(async (kmsOrigin) => {
    const { Kms } = await import('./kms-client.js');
    const t = performance.now();
    const kms = await Kms.connect({ kmsOrigin });
    const ms = performance.now() - t;
    kms.close();
    return ms;
  }, server.origins.kms);
  const blank = `${server.origins.host}/blank.html`;
  // Cold: a fresh profile each time (empty HTTP and code caches, no database).
  // Each cold start also says where its time went: the frame's `kms:`
  // marks (kms-frame.js `mark`), on the host's clock from Kms.connect().
  // The reference, each time in a fresh profile too, interleaved: a frame
  // of another origin that fetches and compiles the same WASM and says so
  // (bare-frame.html), the floor of any WASM key manager in a frame.
  const cold = [];
  const bareCold = [];
  const phases = [];
  for (let i = 0; i < 7; i++) {
    {
      const context = await chromium.newContext();
      const page = await context.newPage();
      await page.goto(blank);
      bareCold.push(await page.evaluate(async (src) => {
        const t = performance.now();
        const ready = new Promise((resolve) => window.addEventListener('message', (e) => {
          if (e.data === 'bare-frame-ready') resolve();
        }));
        const frame = document.createElement('iframe');
        frame.src = src;
        document.body.append(frame);
        await ready;
        return performance.now() - t;
      }, `${server.origins.extra}/bare-frame.html`));
      await context.close();
    }
    const context = await chromium.newContext();
    const page = await context.newPage();
    await page.goto(blank);
    const host = await page.evaluate(async (kmsOrigin) => {
      const { Kms } = await import('./kms-client.js');
      const t = performance.now();
      window.benchKms = await Kms.connect({ kmsOrigin });
      return { origin: performance.timeOrigin, t, ms: performance.now() - t };
    }, server.origins.kms);
    cold.push(host.ms);
    const frame = page.frames().find((fr) => fr.url().startsWith(server.origins.kms));
    const marks = await frame.evaluate(() => ({
      origin: performance.timeOrigin,
      at: Object.fromEntries(performance.getEntriesByType('mark').map((e) => [e.name, e.startTime])),
    }));
    const shift = marks.origin - host.origin - host.t;
    phases.push(Object.fromEntries(Object.entries(marks.at).map(([name, t]) => [name, t + shift])));
    await context.close();
  }
  // Warm: the same profile, the page reloaded (caches and database kept).
  const warm = [];
  {
    const context = await chromium.newContext();
    const page = await context.newPage();
    await page.goto(blank);
    await connectOnce(page);
    for (let i = 0; i < 5; i++) {
      await page.reload();
      warm.push(await connectOnce(page));
    }
    await context.close();
  }

  const context = await chromium.newContext();
  const page = await context.newPage();
  await page.goto(`${server.origins.extra}/bench.html`);
  const engine = await page.evaluate(() => window.benchResult);
  if (engine.error) throw new Error(engine.error);

  const wasm = readFileSync(join(repo, 'target/web/kms/pkg/kms_worker_bg.wasm'));
  const r = {
    chromium: chromium.version(),
    ready_cold_ms: median(cold),
    bare_frame_wasm_cold_ms: median(bareCold),
    ready_cold_ratio: median(cold) / median(bareCold),
    // Medians of each milestone of the cold starts, ms after Kms.connect().
    ...Object.fromEntries(Object.keys(phases[0]).map((name) => [
      `cold_at_${name.replace('kms:', '').replaceAll('-', '_')}_ms`, median(phases.map((p) => p[name] ?? NaN)),
    ])),
    ready_warm_ms: median(warm),
    ...engine,
    unlock_ratio: engine.unlock_ms / engine.bare_pbkdf2_ms,
    jwt_ratio: engine.jwt_ms / engine.bare_ecdsa_ms,
    lease_batch_ratio: engine.lease_batch_10_ms / (10 * engine.bare_ecdsa_ms),
    wasm_bytes: wasm.length,
    wasm_gzip_bytes: gzipSync(wasm, { level: 9 }).length,
  };
  const f = (x) => (typeof x === 'number' && !Number.isInteger(x) ? x.toFixed(2) : String(x));
  for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(22)} ${f(v)}`);
} finally {
  await chromium.close();
  server.close();
  rmSync(benchRoot, { recursive: true, force: true });
}
