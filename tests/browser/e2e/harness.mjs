// Shared by the end-to-end tests: the two origins (and a third) served by
// kms-serve with the KMS origin's headers, and headless Debian Chromium
// driven by playwright-core.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { before, after } from 'node:test';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../../..');
const web = join(repo, 'target/web');

export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Starts kms-serve on three loopback ports; resolves with the origins. */
export async function serve({ base = Number(process.env.KMS_E2E_PORT ?? 18080), extraSite = null } = {}) {
  const serveBin = process.env.KMS_SERVE ?? join(repo, 'target/debug/kms-serve');
  if (!existsSync(join(web, 'kms/pkg/kms_worker_bg.wasm'))) throw new Error('run scripts/build-web.sh first');
  const hostRoot = mkdtempSync(join(tmpdir(), 'kms-host-'));
  cpSync(join(here, '../host'), hostRoot, { recursive: true });
  cpSync(join(repo, 'kms-client/js/kms-client.js'), join(hostRoot, 'kms-client.js'));
  const origins = {
    host: `http://localhost:${base}`,
    kms: `http://localhost:${base + 1}`,
    third: `http://localhost:${base + 2}`,
    extra: extraSite ? `http://localhost:${base + 3}` : null,
  };
  const extra = extraSite ? ['--site', `127.0.0.1:${base + 3}=${extraSite}`] : [];
  const child = await startReady(serveBin, [
    '--host', `127.0.0.1:${base}=${hostRoot}`,
    '--kms', `127.0.0.1:${base + 1}=${join(web, 'kms')}`,
    '--site', `127.0.0.1:${base + 2}=${join(here, '../third')}`,
    '--allow-host', origins.host,
    ...extra,
  ], 'kms-serve').catch((e) => { rmSync(hostRoot, { recursive: true, force: true }); throw e; });
  return {
    origins,
    close() { child.kill('SIGTERM'); rmSync(hostRoot, { recursive: true, force: true }); },
  };
}

/** Starts a process and resolves once its stdout says `<name>: ready` (30 s at most). */
function startReady(bin, args, name) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGTERM'); fail(new Error(`${name} not ready in 30 s: ${out}`)); }, 30_000);
    child.stdout.on('data', (d) => { out += d; if (out.includes(`${name}: ready`)) { clearTimeout(timer); ok(child); } });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`${name} exited (${code}): ${out}`)); });
  });
}

/**
 * The demo as scripts/demo.sh runs it, on four loopback ports: the PWA
 * (target/web/demo and its demo-config.json), the KMS origin, the local
 * push service, and kms-relay. `relayArgs` adds relay options (short token
 * lifetimes, so that refreshes happen within a test).
 */
export async function serveDemo({ base = Number(process.env.KMS_E2E_DEMO_PORT ?? 18380), relayArgs = [] } = {}) {
  if (!existsSync(join(web, 'demo/demo.js'))) throw new Error('run scripts/build-web.sh first');
  const origins = {
    host: `http://localhost:${base}`,
    kms: `http://localhost:${base + 1}`,
    push: `http://localhost:${base + 2}`,
    relay: `http://localhost:${base + 3}`,
  };
  const demoRoot = mkdtempSync(join(tmpdir(), 'kms-demo-'));
  cpSync(join(web, 'demo'), demoRoot, { recursive: true });
  writeFileSync(join(demoRoot, 'demo-config.json'),
    JSON.stringify({ kmsOrigin: origins.kms, pushService: origins.push, relay: origins.relay }));
  const bin = (name) => join(repo, 'target/debug', name);
  const cleanup = () => rmSync(demoRoot, { recursive: true, force: true });
  const serveChild = await startReady(process.env.KMS_SERVE ?? bin('kms-serve'), [
    '--host', `127.0.0.1:${base}=${demoRoot}`,
    '--kms', `127.0.0.1:${base + 1}=${join(web, 'kms')}`,
    '--push', `127.0.0.1:${base + 2}`,
    '--allow-host', origins.host, '--allow-loopback-push',
  ], 'kms-serve').catch((e) => { cleanup(); throw e; });
  let relayChild;
  try {
    relayChild = await startReady(process.env.KMS_RELAY ?? bin('kms-relay'), [
      '--listen', `127.0.0.1:${base + 3}`, '--allow-origin', origins.host, '--allow-loopback-push', ...relayArgs,
    ], 'kms-relay');
  } catch (e) {
    serveChild.kill('SIGTERM');
    cleanup();
    throw e;
  }
  return {
    origins,
    close() {
      relayChild.kill('SIGTERM');
      serveChild.kill('SIGTERM');
      cleanup();
    },
  };
}

/** A fresh headless Chromium with its own empty profile. */
export async function browser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/** Opens the test host page and waits until the client is connected. */
export async function hostPage(context, origins) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  await page.goto(`${origins.host}/index.html?kms=${encodeURIComponent(origins.kms)}`);
  const connected = await page.evaluate(() => window.host.ready);
  if (!connected) throw new Error(`connect failed: ${await page.evaluate(() => window.host.connectError)}`);
  return page;
}

/** The KMS iframe of a host page. */
export function kmsFrame(page) {
  return page.frameLocator('#kms-slot iframe');
}

/** Runs `kms.<method>(params)` in the host page; resolves {ok, result|code}. */
export function call(page, method, params) {
  return page.evaluate(([m, p]) => window.host.settle(window.host.kms[m](p)), [method, params]);
}

/** Starts a UI operation in the page without waiting (the user answers in the frame). */
export async function startUi(page, method, params, timeoutMs = 60_000) {
  await page.evaluate(([m, p, t]) => { window.host.pendingUi = window.host.settle(window.host.kms[m](p, { timeoutMs: t })); }, [method, params, timeoutMs]);
}

/** The settled result of the UI operation started by startUi. */
export function uiResult(page) {
  return page.evaluate(() => window.host.pendingUi);
}

/** Types a passphrase into the KMS frame (and its confirmation when shown) and submits. */
export async function typePassphrase(page, passphrase) {
  const frame = kmsFrame(page);
  await frame.locator('#kms-passphrase').fill(passphrase);
  if (await frame.locator('#kms-confirm-field').isVisible()) {
    await frame.locator('#kms-passphrase-confirm').fill(passphrase);
  }
  await frame.locator('#kms-submit').click();
}

/** A CDP virtual authenticator (CTAP2, internal, with PRF) for the page's tab. */
export async function virtualAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, hasPrf: true, automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

/**
 * The set-up every test file shares: kms-serve and a fresh Chromium with one
 * context, started before the file's tests and stopped after them. The
 * returned object's `server` and `context` are set once `before` has run.
 */
export function suite() {
  const s = { server: null, chromium: null, context: null };
  before(async () => {
    s.server = await serve();
    s.chromium = await browser();
    s.context = await s.chromium.newContext();
  });
  after(async () => {
    await s.chromium?.close();
    s.server?.close();
  });
  return s;
}
