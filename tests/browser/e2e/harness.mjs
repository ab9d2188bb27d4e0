// Shared by the end-to-end tests: the two origins (and a third) served by
// kms-serve with the KMS origin's headers, and the browser of ENGINE:
// Debian's Chromium driven by playwright-core, its Firefox ESR by
// playwright-core's BiDi line, or its WebKitGTK through webdriver.mjs.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
// Firefox over WebDriver BiDi: playwright-core's BiDi driver with Debian's
// firefox-esr. Pinned apart (1.58.2): later versions send a BiDi command
// (emulation.setMediaFeaturesOverride) that Firefox ESR refuses.
import { firefox } from 'playwright-core-bidi';
// WebKitGTK through WebKitWebDriver: the part of Playwright's API the tests
// use, over classic WebDriver.
import { webkit } from './webdriver.mjs';

/**
 * The engine the e2e tests run in: `chromium` (default), `firefox` or
 * `webkit` (KMS_E2E_ENGINE; WebKitGTK needs a display: run it under
 * xvfb-run). One copy of each test's steps for every engine; a test that
 * needs what one engine lacks here (Chromium's CDP virtual authenticator,
 * Playwright's request routing) says so with `skip`.
 */
export const ENGINE = process.env.KMS_E2E_ENGINE ?? 'chromium';
if (!['chromium', 'firefox', 'webkit'].includes(ENGINE)) throw new Error(`KMS_E2E_ENGINE: chromium, firefox or webkit, not ${ENGINE}`);
/**
 * Why a passkey test cannot run in this engine, or false: the virtual
 * authenticator here is Chromium's, over CDP. Firefox has one over
 * geckodriver's WebDriver endpoint, not used by this harness yet;
 * WebKitWebDriver has none, and WebKitGTK has no WebAuthn.
 */
export const NO_AUTHENTICATOR = ENGINE === 'firefox'
  ? 'firefox: no virtual authenticator in this harness (Chromium\'s is CDP; Firefox\'s would need geckodriver)'
  : ENGINE === 'webkit' && 'webkit: WebKitGTK has no WebAuthn, and WebKitWebDriver no virtual authenticator';
/**
 * What the KMS frame's storage is keyed by, besides the KMS origin: the
 * embedding page's site in Chromium and Firefox (apps of one site share one
 * KMS database), its origin in WebKit (each app origin has its own, even
 * within one site). docs/browser.md section 5, "Sites".
 */
export const PARTITION = ENGINE === 'webkit' ? 'origin' : 'site';
/**
 * Whether `page.on('pageerror')` reports the page's uncaught errors: not
 * over classic WebDriver (WebKit), which has no event stream.
 */
export const PAGE_ERRORS = ENGINE !== 'webkit';
import { before, after } from 'node:test';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../../..');
const web = join(repo, 'target/web');
// Where cargo puts the binaries: CARGO_TARGET_DIR when set (as cargo does),
// else target/ in the repository. The bundle is always in target/web.
const cargoTarget = process.env.CARGO_TARGET_DIR ? resolve(repo, process.env.CARGO_TARGET_DIR) : join(repo, 'target');

export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * A fresh copy of the test host page (with the client beside it, or the
 * given text in its place, and the
 * third origin's framing page as the allowed control), and the processes
 * serving it: `close` stops them and removes the copy.
 */
function hostSite(client = null) {
  const hostRoot = mkdtempSync(join(tmpdir(), 'kms-host-'));
  cpSync(join(here, '../host'), hostRoot, { recursive: true });
  if (client === null) cpSync(join(repo, 'kms-client/js/kms-client.js'), join(hostRoot, 'kms-client.js'));
  else writeFileSync(join(hostRoot, 'kms-client.js'), client);
  cpSync(join(here, '../third/frame-kms.html'), join(hostRoot, 'frame-kms.html'));
  const children = [];
  const close = () => {
    for (const child of children) child.kill('SIGTERM');
    rmSync(hostRoot, { recursive: true, force: true });
  };
  return { hostRoot, children, close };
}

/**
 * Starts kms-serve on three loopback ports (host, KMS, third origin; a
 * fourth, `extra`, serves `extraSite` when given; `kmsArgs` adds options of
 * the KMS origin); resolves with the origins. `secondHost` adds another
 * allowed host, `second`, serving the same host page (same site as `host`,
 * so its KMS frame shares the first one's storage partition), and
 * `hostGroup` puts the two hosts in one group (they share their users).
 * `kmsDir` serves another bundle than target/web/kms on the KMS origin;
 * `client` serves this text as the host page's kms-client.js.
 * Every port is 0: the system picks a free one and kms-serve announces it.
 * The KMS origin's allowlist (frame-ancestors, kms-config.json) names the
 * host origin, so two kms-serve processes start in turn: the host and the
 * plain sites first, then the KMS origin allowing the host's real port.
 */
export async function serve({ extraSite = null, kmsArgs = [], secondHost = false, hostGroup = false, kmsDir = join(web, 'kms'), client = null } = {}) {
  const serveBin = process.env.KMS_SERVE ?? join(cargoTarget, 'debug/kms-serve');
  if (!existsSync(join(kmsDir, 'pkg/kms_worker_bg.wasm'))) throw new Error('run scripts/build-web.sh first');
  const { hostRoot, children, close } = hostSite(client);
  try {
    const sites = await startReady(serveBin, [
      '--host', `127.0.0.1:0=${hostRoot}`,
      '--site', `127.0.0.1:0=${join(here, '../third')}`,
      ...(extraSite ? ['--site', `127.0.0.1:0=${extraSite}`] : []),
      ...(secondHost ? ['--site', `127.0.0.1:0=${hostRoot}`] : []),
    ], 'kms-serve');
    children.push(sites.child);
    // Announced in the order given: the host, then the sites.
    const [host, third, ...more] = announced(sites.out, 'kms-serve');
    const extra = extraSite ? more.shift() : null;
    const second = secondHost ? more.shift() : null;
    const kms = await startReady(serveBin, [
      '--kms', `127.0.0.1:0=${kmsDir}`, '--allow-host', host,
      ...(second ? ['--allow-host', second] : []),
      ...(second && hostGroup ? ['--host-group', `shop=${host},${second}`] : []),
      ...kmsArgs,
    ], 'kms-serve');
    children.push(kms.child);
    return { origins: { host, kms: announced(kms.out, 'kms-serve')[0], third, extra, second }, close };
  } catch (e) {
    close();
    throw e;
  }
}

/**
 * The test host page and the KMS origin under host names of their own
 * (`*.localhost` resolves to loopback in Chromium without flags), for the
 * site tests: `hostNames` name the host page's origins (one server, one
 * port, several names), `kmsName` the KMS origin's, all allowed and, with
 * `group`, one app. Resolves with `{hosts: [origin...], kms, close}`.
 */
export async function serveNamed({ hostNames, kmsName, group = false }) {
  const serveBin = process.env.KMS_SERVE ?? join(cargoTarget, 'debug/kms-serve');
  const { hostRoot, children, close } = hostSite();
  try {
    const site = await startReady(serveBin, ['--host', `127.0.0.1:0=${hostRoot}`], 'kms-serve');
    children.push(site.child);
    const port = new URL(announced(site.out, 'kms-serve')[0]).port;
    const hosts = hostNames.map((name) => `http://${name}:${port}`);
    const kms = await startReady(serveBin, [
      '--kms', `127.0.0.1:0=${join(web, 'kms')}`, ...hosts.flatMap((h) => ['--allow-host', h]),
      ...(group ? ['--host-group', `site=${hosts.join(',')}`] : []),
    ], 'kms-serve');
    children.push(kms.child);
    return { hosts, kms: `http://${kmsName}:${new URL(announced(kms.out, 'kms-serve')[0]).port}`, close };
  } catch (e) {
    close();
    throw e;
  }
}

/**
 * The origins a server announced on stdout, in order: the second field of
 * each `<name>: <role> http://localhost:<port> ...` line.
 */
function announced(out, name) {
  const origins = [];
  for (const line of out.split('\n')) {
    const m = new RegExp(`^${name}: \\S+ (http://localhost:\\d+)\\b`).exec(line);
    if (m) origins.push(m[1]);
  }
  if (origins.length === 0) throw new Error(`${name} announced no origin: ${out}`);
  return origins;
}

/**
 * Starts a process and resolves with it and its stdout so far once that
 * says `<name>: ready` (30 s at most).
 */
function startReady(bin, args, name) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGTERM'); fail(new Error(`${name} not ready in 30 s: ${out}`)); }, 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes(`${name}: ready`)) { clearTimeout(timer); ok({ child, out }); }
    });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`${name} exited (${code}): ${out}`)); });
  });
}

/**
 * The demo as scripts/demo.sh runs it, on four loopback ports: the PWA
 * (target/web/demo and its demo-config.json), the KMS origin, the local
 * push service, and kms-relay. `relayArgs` adds relay options (short token
 * lifetimes, so that refreshes happen within a test). Every port is 0, as
 * in `serve`: the PWA's origin first (the KMS allowlist, the push
 * service's and the relay's CORS name it), then the KMS origin and the push
 * service, then the relay; demo-config.json, read by the page when it
 * loads, is written once all four are known.
 */
export async function serveDemo({ relayArgs = [] } = {}) {
  if (!existsSync(join(web, 'demo/demo.js'))) throw new Error('run scripts/build-web.sh first');
  const demoRoot = mkdtempSync(join(tmpdir(), 'kms-demo-'));
  cpSync(join(web, 'demo'), demoRoot, { recursive: true });
  const configFile = join(demoRoot, 'demo-config.json');
  rmSync(configFile, { force: true });
  const bin = (name) => join(cargoTarget, 'debug', name);
  const serveBin = process.env.KMS_SERVE ?? bin('kms-serve');
  const children = [];
  const close = () => {
    // The relay first (it was started last).
    for (const child of children.reverse()) child.kill('SIGTERM');
    rmSync(demoRoot, { recursive: true, force: true });
  };
  try {
    const pwa = await startReady(serveBin, ['--host', `127.0.0.1:0=${demoRoot}`], 'kms-serve');
    children.push(pwa.child);
    const [host] = announced(pwa.out, 'kms-serve');
    const kms = await startReady(serveBin, [
      '--kms', `127.0.0.1:0=${join(web, 'kms')}`,
      '--push', '127.0.0.1:0',
      '--allow-host', host, '--allow-loopback-push',
    ], 'kms-serve');
    children.push(kms.child);
    // The KMS origin, then the push service (announced last).
    const [kmsOrigin, push] = announced(kms.out, 'kms-serve');
    const relay = await startReady(process.env.KMS_RELAY ?? bin('kms-relay'), [
      '--listen', '127.0.0.1:0', '--allow-origin', host, '--allow-loopback-push', ...relayArgs,
    ], 'kms-relay');
    children.push(relay.child);
    const [relayOrigin] = announced(relay.out, 'kms-relay');
    const origins = { host, kms: kmsOrigin, push, relay: relayOrigin };
    writeFileSync(configFile, JSON.stringify({ kmsOrigin: origins.kms, pushService: origins.push, relay: origins.relay }));
    return { origins, close };
  } catch (e) {
    close();
    throw e;
  }
}

/** A fresh headless browser of ENGINE with its own empty profile. */
export async function browser() {
  if (ENGINE === 'webkit') {
    if (!process.env.DISPLAY) throw new Error('WebKitGTK needs a display: run the tests under xvfb-run');
    return webkit();
  }
  if (ENGINE === 'firefox') {
    return firefox.launch({ channel: 'moz-firefox', executablePath: process.env.FIREFOX ?? '/usr/bin/firefox-esr', headless: true });
  }
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
  await frameAtRest(page);
  await frame.locator('#kms-submit').click();
}

/**
 * Resolves once the KMS iframe has not moved in the host page for `ms`.
 * Chromium drops clicks on a cross-origin iframe that uses
 * IntersectionObserver v2 (the KMS frame does, frame-guard.js) and moved in
 * the last 500 ms or so: a click right after a scroll or a layout change
 * would be lost, as it would be for a user.
 */
export async function frameAtRest(page, ms = 600) {
  await page.evaluate((wait) => new Promise((resolve) => {
    // One watcher per page, started by the first call: it notes when the
    // iframe's box last changed, every frame.
    if (!window.kmsFrameWatch) {
      const iframe = document.querySelector('#kms-slot iframe');
      const where = () => JSON.stringify(iframe.getBoundingClientRect());
      const watch = { last: where(), movedAt: performance.now() };
      const tick = () => {
        const now = where();
        if (now !== watch.last) { watch.last = now; watch.movedAt = performance.now(); }
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      window.kmsFrameWatch = watch;
    }
    const check = () => {
      if (performance.now() - window.kmsFrameWatch.movedAt >= wait) resolve(); else requestAnimationFrame(check);
    };
    // Two frames first, so that a move made just before the call is seen.
    requestAnimationFrame(() => requestAnimationFrame(check));
  }), ms);
}

/**
 * Confirms, in the KMS frame, the lasting change the page asked for, as a
 * user would: waits for the panel's confirm button to become usable (the
 * frame arms it once the panel has been fully visible for a moment), checks
 * the panel's title, and clicks it.
 */
export async function confirmInFrame(page, title) {
  const frame = kmsFrame(page);
  await frame.locator('#kms-confirm:enabled').waitFor();
  await frameAtRest(page);
  const shown = await frame.locator('#kms-title').textContent();
  if (!title.test(shown)) throw new Error(`the frame asks "${shown}", not ${title}`);
  await frame.locator('#kms-confirm').click();
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
export function suite(serveOptions = {}) {
  const s = { server: null, chromium: null, context: null };
  before(async () => {
    s.server = await serve(serveOptions);
    s.chromium = await browser();
    s.context = await s.chromium.newContext();
  });
  after(async () => {
    await s.chromium?.close();
    s.server?.close();
  });
  return s;
}
