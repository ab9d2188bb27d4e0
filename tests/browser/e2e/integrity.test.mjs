// The KMS runs only the code of its build: each file of the bundle changed
// by one appended byte (the WASM by one changed letter) stops the KMS, with the
// reason in the frame and `integrity` for the host's Kms.connect, at once.
// A host can pin the build it expects. The untampered bundle is what every
// other test runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browser, repo, serve } from './harness.mjs';

const bundle = join(repo, 'target/web/kms');
const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8'));

let chromium;
test.before(async () => { chromium = await browser(); });
test.after(async () => { await chromium?.close(); });

/** A copy of the bundle with `path` changed by `change(bytes)`. */
function tampered(path, change) {
  const dir = mkdtempSync(join(tmpdir(), 'kms-tampered-'));
  cpSync(bundle, dir, { recursive: true });
  writeFileSync(join(dir, path), change(readFileSync(join(dir, path))));
  return dir;
}

const appendByte = (bytes) => Buffer.concat([bytes, Buffer.from('\n')]);
// One letter of an error message in the WASM's data: still a module that
// compiles and runs, only not the one that was built.
const changeOneLetter = (bytes) => {
  const b = Buffer.from(bytes);
  const at = b.indexOf('user_deleted');
  if (at < 0) throw new Error('no such text in the WASM');
  b[at] = 'U'.charCodeAt(0);
  return b;
};

/** Connects a host page to the KMS served from `kmsDir`; resolves with what connect said and what the frame shows. */
async function connectTo(kmsDir, query = '') {
  const server = await serve({ kmsDir });
  const context = await chromium.newContext();
  try {
    const page = await context.newPage();
    const started = Date.now();
    await page.goto(`${server.origins.host}/index.html?kms=${encodeURIComponent(server.origins.kms)}${query}`);
    const connected = await page.evaluate(() => window.host.ready);
    const elapsed = Date.now() - started;
    const error = await page.evaluate(() => window.host.connectError);
    const build = connected ? await page.evaluate(() => window.host.kms.build) : null;
    // The client removes a frame that failed: load one on its own to read what it says.
    const view = await context.newPage();
    await view.goto(`${server.origins.host}/blank.html`);
    await view.evaluate((src) => {
      const f = document.createElement('iframe');
      f.src = src;
      document.body.appendChild(f);
    }, `${server.origins.kms}/kms.html`);
    const frameStatus = await view.frameLocator('iframe').locator('#kms-status', { hasText: /could not start|ready/ })
      .textContent({ timeout: 20_000 });
    return { connected, error, build, elapsed, frameStatus };
  } finally {
    await context.close();
    server.close();
  }
}

for (const [path, change, what] of [
  ['pkg/kms_worker_bg.wasm', changeOneLetter, 'pkg/kms_worker_bg.wasm'],
  ['kms-engine.js', appendByte, 'kms-engine.js'],
  ['kms-frame.js', appendByte, 'kms-frame.js'],
  ['frame-guard.js', appendByte, 'frame-guard.js'],
  ['frame-messages.js', appendByte, 'frame-messages.js'],
  // The origin's CSP without the page's hashes: its import map and boot
  // script are blocked, and the frame will not load its modules unchecked.
  ['manifest.json', (bytes) => Buffer.from(JSON.stringify({ ...JSON.parse(bytes), csp_script_hashes: [] })), 'inline scripts were blocked'],
  ['kms.css', appendByte, 'kms.css'],
]) {
  test(`a changed ${path} stops the KMS with integrity`, async () => {
    const dir = tampered(path, change);
    try {
      const r = await connectTo(dir);
      assert.equal(r.connected, false, JSON.stringify(r));
      assert.match(r.error, /^integrity: /, JSON.stringify(r));
      assert.ok(r.error.includes(what), r.error);
      // At once, not after the 30 s connect timeout.
      assert.ok(r.elapsed < 15_000, `${r.elapsed} ms`);
      assert.match(r.frameStatus, /could not start: .*integrity/, r.frameStatus);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the host learns the build, and a pinned build is enforced', async () => {
  const right = await connectTo(bundle, `&expectBuild=${manifest.build.slice(0, 12)}`);
  assert.equal(right.connected, true, JSON.stringify(right));
  assert.equal(right.build, manifest.build);
  assert.match(right.frameStatus, new RegExp(`build ${manifest.build.slice(0, 12)}`));
  const wrong = await connectTo(bundle, `&expectBuild=${'0'.repeat(64)}`);
  assert.equal(wrong.connected, false);
  assert.match(wrong.error, /^integrity: the KMS runs build /);
});

test('the KMS origin allows exactly the page\'s inline scripts by hash', async () => {
  const server = await serve();
  try {
    const csp = (await fetch(`${server.origins.kms}/kms.html`)).headers.get('content-security-policy');
    assert.equal(manifest.csp_script_hashes.length, 2);
    for (const h of manifest.csp_script_hashes) assert.ok(csp.includes(h), csp);
    assert.doesNotMatch(csp, /unsafe-inline/);
  } finally {
    server.close();
  }
});
