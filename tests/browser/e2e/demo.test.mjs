// The demo (scripts/demo.sh) driven as a user would, in its real pages: the
// PWA, the KMS iframe, the local push service and kms-relay. A screenshot
// is taken at each step into target/e2e-screenshots/<engine>/ (docs/screenshots/
// with KMS_UPDATE_SCREENSHOTS=1 in Chromium: the README shows those).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repo, serveDemo, browser, kmsFrame, typePassphrase, virtualAuthenticator, confirmInFrame, frameAtRest, NO_AUTHENTICATOR, ENGINE } from './harness.mjs';

const PASSPHRASE = 'correct horse battery staple';
// One folder per engine: the three engines' runs overlap in the test
// command. The README's pictures are Chromium's: only its run updates them.
const UPDATE = process.env.KMS_UPDATE_SCREENSHOTS === '1' && ENGINE === 'chromium';
const shots = join(repo, UPDATE ? 'docs/screenshots' : `target/e2e-screenshots/${ENGINE}`);
// Tokens live 70 s and are refreshed 62 s before they expire: the relay
// asks for one every 8 s or so, so refreshes happen within the test.
const RELAY_ARGS = ['--token-ttl-s', '70', '--refresh-margin-s', '62', '--batch', '1'];

let demo;
let chromium;
before(async () => {
  mkdirSync(shots, { recursive: true });
  demo = await serveDemo({ relayArgs: RELAY_ARGS });
  chromium = await browser();
});
after(async () => {
  await chromium?.close();
  demo?.close();
});

async function openDemo(context) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  await page.goto(`${demo.origins.host}/index.html`);
  await page.waitForSelector('body[data-ready=true]', { timeout: 30_000 });
  return page;
}

/** Scrolls `section` into view and saves a screenshot of the viewport. */
async function shot(page, name, section) {
  if (section) await page.locator(section).scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(shots, `${name}.png`) });
}

/** Waits until the text of `selector` matches `pattern`; fails with the text seen. */
async function waitText(page, selector, pattern, timeout = 20_000) {
  try {
    await page.waitForFunction(([s, src, flags]) => new RegExp(src, flags).test(document.querySelector(s)?.textContent ?? ''),
      [selector, pattern.source, pattern.flags], { timeout });
  } catch {
    assert.fail(`${selector} never matched ${pattern}: ${await page.locator(selector).textContent()}`);
  }
  return page.locator(selector).textContent();
}

/** The relay's view of a user, fetched by the test itself. */
async function relayStatus(user) {
  const res = await fetch(`${demo.origins.relay}/v1/status?user=${user}`);
  assert.equal(res.status, 200);
  return res.json();
}

/** Polls the relay until `check(status)` holds. */
async function waitRelay(user, check, what, timeout = 40_000) {
  const end = Date.now() + timeout;
  let s;
  while (Date.now() < end) {
    s = await relayStatus(user);
    if (check(s)) return s;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`the relay never reached "${what}": ${JSON.stringify({ lease: s.lease, tokens: s.tokens, events: s.events.slice(-3) })}`);
}

async function pushStats() {
  return (await fetch(`${demo.origins.push}/stats`)).json();
}

/** Types the passphrase into the KMS frame once it asks. */
async function answerPassphrase(page) {
  await kmsFrame(page).locator('#kms-passphrase').waitFor({ state: 'visible' });
  await typePassphrase(page, PASSPHRASE);
}

test('the whole Web Push chain: passphrase, subscribe, lease, locked refresh, push, rotation, revocation, audit', { timeout: 240_000 }, async () => {
  const context = await chromium.newContext({ viewport: { width: 1280, height: 860 } });
  // Everything the page sends the relay and reads from it: the lease
  // credential and the tokens cross the page sealed, never readable.
  // Recorded in the page, around its fetch (every engine's driver shows
  // request bodies differently, Firefox's BiDi not at all).
  await context.addInitScript(([relay, pwa]) => {
    // The demo page only (the KMS frame gets the script too).
    if (location.origin !== pwa) return;
    const fetch0 = window.fetch;
    window.relayTraffic = [];
    window.fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      if (!url.startsWith(relay)) return fetch0(input, init);
      if (typeof init?.body === 'string') window.relayTraffic.push(init.body);
      const response = await fetch0(input, init);
      window.relayTraffic.push(await response.clone().text().catch(() => ''));
      return response;
    };
  }, [demo.origins.relay, demo.origins.host]);
  const page = await openDemo(context);
  await waitText(page, '#session', /No keys for alice yet/);
  await shot(page, 'demo-01-start');

  // 1. Set up with a passphrase typed in the KMS frame (the host never sees it).
  await page.click('#setup-passphrase');
  const frame = kmsFrame(page);
  await frame.locator('#kms-passphrase').waitFor({ state: 'visible' });
  assert.match(await frame.locator('#kms-title').textContent(), /Set up keys for alice/);
  assert.equal(await page.locator('#kms-attention').isVisible(), true);
  await frame.locator('#kms-passphrase').fill(PASSPHRASE);
  await frame.locator('#kms-passphrase-confirm').fill(PASSPHRASE);
  await shot(page, 'demo-02-setup-passphrase');
  await frame.locator('#kms-submit').click();
  await waitText(page, '#session', /Set up with a passphrase\. Unlocked until/);

  // 2. The VAPID key: public key and kid shown.
  await page.click('#vapid-generate');
  const vapid = await waitText(page, '#vapid', /applicationServerKey/);
  const kid1 = await page.locator('#vapid dd').nth(1).textContent();
  assert.match(kid1, /^[A-Za-z0-9_-]{43}$/);
  assert.match(vapid, /Version1, created/);
  await shot(page, 'demo-03-vapid-key', '#step-vapid');

  // 3. Subscribe: the real pushManager fails headless, the page says so and
  // uses the local push service.
  await page.click('#subscribe');
  const path = await waitText(page, '#push-path', /local push service/);
  assert.match(path, /The browser's push service cannot be used here \(\w+Error: .+\)\. Using the local push service at http:\/\/localhost:\d+ instead/);
  await waitText(page, '#subscription', new RegExp(`Endpoint${demo.origins.push}/push/`));
  await waitRelay('alice', (s) => s.subscription?.origin === demo.origins.push, 'subscription received');
  await shot(page, 'demo-04-subscribed', '#step-subscribe');

  // 4. Grant the relay a lease: the relay asks, the page carries the request
  // to the KMS, tokens come back to the relay.
  // The lease is a lasting change: the user reads its terms in the frame
  // and confirms there.
  await page.click('#lease-grant');
  await kmsFrame(page).locator('#kms-confirm:enabled').waitFor();
  const terms = await kmsFrame(page).locator('#kms-terms').textContent();
  assert.match(terms, /sealed to the relay's key \(fingerprint [0-9a-f ]{19}\)/);
  await shot(page, 'demo-05a-lease-confirm', '#step-lease');
  await confirmInFrame(page, /^Let the relay "demo-relay" send pushes for alice$/);
  await waitText(page, '#lease', /demo-relay, push to http:\/\/localhost:\d+/);
  const granted = await waitRelay('alice', (s) => s.tokens_received >= 1 && s.tokens.length >= 1, 'first tokens');
  assert.equal(granted.lease.state, 'active');
  assert.equal(granted.tokens[0].aud, demo.origins.push);
  assert.equal(granted.tokens[0].kid, kid1);
  // The relay's status never carries a token or the credential, and
  // neither does anything the page carried: the lease was granted to the
  // relay's key, the requests and answers went through lease_courier.
  assert.doesNotMatch(JSON.stringify(granted), /eyJ|kmsl1\./);
  const traffic = (await page.evaluate(() => window.relayTraffic)).join('\n');
  assert.match(traffic, /"sealed_credential":/);
  assert.match(traffic, /"sealed":/);
  assert.doesNotMatch(traffic, /kmsl1\.|eyJ[\w-]*\.eyJ/, 'the page carried a credential or a token it could read');
  assert.match(granted.events.map((e) => e.text).join('\n'), /sealed to this relay/);
  await waitText(page, '#relay-state', /Tokens received1/);
  await shot(page, 'demo-05-lease-granted', '#step-lease');

  // 5. Lock: the relay keeps getting fresh tokens (lease_issue needs no session).
  await page.click('#lock');
  await waitText(page, '#session', /^Locked/);
  const atLock = (await relayStatus('alice')).tokens_received;
  const refreshed = await waitRelay('alice', (s) => s.tokens_received >= atLock + 2, 'two refreshes while locked', 60_000);
  assert.ok(refreshed.events.some((e) => /no token valid long enough/.test(e.text)), 'a refresh came from the margin');
  await waitText(page, '#session', /^Locked/);
  await shot(page, 'demo-06-locked-refreshing', '#step-lease');

  // 6. Send through the relay while locked: the push service checks it, the
  // page fetches and decrypts it.
  const statsBefore = await pushStats();
  await page.fill('#message', 'Hello while locked');
  await page.click('#send');
  await waitText(page, '#send-result', /Push service answered 201\.Accepted: the push service will deliver the message/);
  await waitText(page, '#inbox', /kms demoHello while locked \(local push service, decrypted in this page\)/);
  assert.equal((await pushStats()).statuses['201'], (statsBefore.statuses['201'] ?? 0) + 1);
  await shot(page, 'demo-07-push-received', '#step-push');

  // A reload keeps the local subscription (the user agent's keys are in the
  // app origin's IndexedDB) and the place in the message queue.
  await page.reload();
  await page.waitForSelector('body[data-ready=true]', { timeout: 30_000 });
  await waitText(page, '#subscription', /restored after a reload/);
  await page.fill('#message', 'After a reload');
  await page.click('#send');
  await waitText(page, '#inbox', /After a reload/);
  assert.doesNotMatch(await page.locator('#inbox').textContent(), /Hello while locked/);

  // 7. Rotate (after unlocking): the relay's lease is refused, and a new
  // lease alone meets the push service's 403 for the old subscription.
  await page.click('#unlock');
  await answerPassphrase(page);
  await waitText(page, '#session', /Unlocked with a passphrase/);
  await page.click('#rotate');
  await confirmInFrame(page, /^Replace the push key of alice$/);
  const rotation = await waitText(page, '#rotation', /Key rotated/);
  assert.match(rotation, /version 1 \(.+\) is retired, version 2 \(.+\) is current/);
  assert.match(rotation, /Subscriptions made with the old key: 1\. Leases bound to it, refused from now on \(lease_key_rotated\): 1\./);
  const stopped = await waitRelay('alice', (s) => s.lease.state === 'stopped', 'lease stopped after rotation');
  assert.equal(stopped.lease.code, 'lease_key_rotated');
  assert.equal(stopped.tokens.length, 0);
  await waitText(page, '#relay-state', /stopped: the user rotated the VAPID key/);
  await shot(page, 'demo-08-rotated', '#step-rotate');

  await page.click('#lease-grant');
  await confirmInFrame(page, /^Let the relay "demo-relay" send pushes for alice$/);
  await waitRelay('alice', (s) => s.lease.state === 'active' && s.tokens.length >= 1, 'tokens of the new key');
  const kid2 = (await relayStatus('alice')).tokens[0].kid;
  assert.notEqual(kid2, kid1);
  await page.fill('#message', 'Old subscription, new key');
  await page.click('#send');
  const refused = await waitText(page, '#send-result', /Push service answered 403/);
  assert.match(refused, /Push service answered 403 \("k is not the application_server_key this subscription was made with.*"\)\.The token's key is not the key this subscription was made with: after a VAPID key rotation every subscription must be made again with the new applicationServerKey/);
  assert.equal(await page.locator('#send-result').getAttribute('class'), 'state bad');
  await shot(page, 'demo-09-old-subscription-403', '#step-push');

  await page.click('#subscribe');
  await waitText(page, '#subscription', new RegExp(`Made with key${kid2}`));
  await page.fill('#message', 'Subscribed again');
  await page.click('#send');
  await waitText(page, '#send-result', /Push service answered 201/);
  await waitText(page, '#inbox', /Subscribed again/);
  await shot(page, 'demo-10-subscribed-again', '#step-push');

  // 8. Revoke: the relay learns it from the KMS, wipes its credential and
  // tokens, and refuses to send.
  await page.click('#lease-revoke');
  await waitText(page, '#lease', /Revoked/);
  const revoked = await waitRelay('alice', (s) => s.lease.state === 'stopped' && s.lease.code === 'lease_revoked', 'lease revoked');
  assert.equal(revoked.tokens.length, 0);
  await page.fill('#message', 'After revocation');
  await page.click('#send');
  const after = await waitText(page, '#send-result', /failed/);
  assert.match(after, /the relay answered 409: the relay stopped pushing: the user revoked the lease/);
  await shot(page, 'demo-11-revoked', '#step-lease');

  // 9. The audit log: exported, verified in the page, verified again by the
  // `kms` CLI from the downloaded file; a tampered copy fails.
  await page.click('#audit-export');
  const report = await waitText(page, '#audit', /valid\./);
  assert.match(report, /^Exported \d+ entries: valid\. \d+ entries, \d+ signed checkpoints verified/);
  const exported = await page.evaluate(async () => (await fetch(document.getElementById('audit-download').href)).text());
  assert.match(exported, /"event":"lease_token"/);
  assert.match(exported, /"event":"key_rotate"/);
  const dir = mkdtempSync(join(tmpdir(), 'kms-audit-'));
  try {
    const file = join(dir, 'kms-audit-alice.jsonl');
    writeFileSync(file, exported);
    const out = execFileSync(join(repo, 'target/debug/kms'), ['--json', 'audit', 'verify', file], { encoding: 'utf8' });
    assert.equal(JSON.parse(out).valid, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await shot(page, 'demo-12-audit-verified', '#step-audit');
  await page.click('#audit-tamper');
  const tampered = await waitText(page, '#audit', /NOT valid/);
  assert.match(tampered, /^Tampered copy \(entry on line \d+, one millisecond later\): NOT valid\. First failure at line \d+/);
  assert.equal(await page.locator('#audit').getAttribute('class'), 'state bad');
  await shot(page, 'demo-13-audit-tampered', '#step-audit');

  assert.equal(await page.locator('#error').textContent(), '');
  await context.close();
});

test('passkey (PRF) set-up and unlock in the demo, with a virtual authenticator', { skip: NO_AUTHENTICATOR, timeout: 120_000 }, async () => {
  const context = await chromium.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await openDemo(context);
  const { cdp, authenticatorId } = await virtualAuthenticator(page);
  await page.fill('#user', 'bob');
  await page.locator('#user').dispatchEvent('change');
  await waitText(page, '#session', /No keys for bob yet/);

  await page.click('#setup-passkey');
  const frame = kmsFrame(page);
  await frame.locator('#kms-passkey').waitFor({ state: 'visible' });
  assert.equal(await frame.locator('#kms-passkey').textContent(), 'Create a passkey (protects the keys at rest)');
  await shot(page, 'demo-14-passkey-setup');
  await frame.locator('#kms-passkey:enabled').waitFor();
  await frameAtRest(page);
  await frame.locator('#kms-passkey').click();
  await waitText(page, '#session', /Set up with a passkey \(PRF\)\. Unlocked until .+ \(unlocks with a passkey \(PRF\)\)/);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);

  await page.click('#lock');
  await waitText(page, '#session', /^Locked/);
  await page.click('#unlock');
  await frame.locator('#kms-passkey').waitFor({ state: 'visible' });
  assert.equal(await frame.locator('#kms-passphrase-fields').isVisible(), false);
  await frame.locator('#kms-passkey:enabled').waitFor();
  await frameAtRest(page);
  await frame.locator('#kms-passkey').click();
  await waitText(page, '#session', /Unlocked with a passkey \(PRF\)/);
  await page.click('#vapid-generate');
  await waitText(page, '#vapid', /applicationServerKey/);
  await shot(page, 'demo-15-passkey-unlocked');
  await context.close();
});
