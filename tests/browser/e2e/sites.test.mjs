// The KMS embedded by an app of another site, and by apps of its own site,
// where third-party storage is blocked: Chromium's fresh headless profile
// here (as its incognito windows), and Firefox ESR as driven here, whose
// cross-site frame fails the frame's storage probes the same way
// (SecurityError), with its default cookie behaviour and with 5 (Total
// Cookie Protection) alike. Host names of their own
// under `localhost` make the sites (`app.localhost` and `kms.localhost` are
// two sites; `app.site.localhost`, `www.site.localhost` and
// `kms.site.localhost` one). docs/browser.md section 5, "Sites".
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { browser, serveNamed, typePassphrase } from './harness.mjs';

const servers = [];
after(() => { for (const s of servers) s.close(); });

async function open(context, host, kms) {
  const page = await context.newPage();
  await page.goto(`${host}/index.html?kms=${encodeURIComponent(kms)}&readyTimeoutMs=60000`);
  await page.evaluate(() => window.host.ready);
  return page;
}

test('cross-site with third-party storage blocked: connect says storage_blocked at once, with the way out', async () => {
  const server = await serveNamed({ hostNames: ['app.localhost'], kmsName: 'kms.localhost' });
  servers.push(server);
  const chromium = await browser();
  try {
    const started = Date.now();
    const page = await open(await chromium.newContext(), server.hosts[0], server.kms);
    const error = await page.evaluate(() => window.host.connectError);
    // At once: well before the 60 s the page would wait for an answer.
    assert.ok(Date.now() - started < 15_000, `answered after ${Date.now() - started} ms`);
    assert.match(error, /^storage_blocked: this browser blocks the key manager's storage here \((Web Locks|IndexedDB): SecurityError\): it is embedded by a page of another site and third-party storage is blocked/);
    assert.match(error, /Serve the key manager on the app's own site, e\.g\. kms\.<the app's domain>/);
    assert.ok(!/database|newer build/i.test(error), error);
  } finally {
    await chromium.close();
  }
});

test("same-site: the KMS on a subdomain of the app's site works, and the apps of that site share one database", async () => {
  const server = await serveNamed({ hostNames: ['app.site.localhost', 'www.site.localhost'], kmsName: 'kms.site.localhost', group: true });
  servers.push(server);
  const chromium = await browser();
  try {
    const context = await chromium.newContext();
    const app = await open(context, server.hosts[0], server.kms);
    assert.equal(await app.evaluate(() => window.host.connectError), null);
    const setup = app.evaluate(() => window.host.settle(window.host.kms.setup({ user: 'alice', method: 'passphrase' })));
    await typePassphrase(app, 'correct horse battery staple');
    assert.equal((await setup).ok, true);
    const key = await app.evaluate(() => window.host.settle(window.host.kms.vapidGenerate({ user: 'alice' })));
    assert.equal(key.ok, true, JSON.stringify(key));
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const jwt = await app.evaluate((e) => window.host.settle(window.host.kms.signJwt({ user: 'alice',
      claims: { aud: 'https://fcm.googleapis.com', exp: e, sub: 'mailto:alice@example.com' } })), exp);
    assert.equal(jwt.ok, true, JSON.stringify(jwt));
    assert.equal((await app.evaluate(([t, k]) => window.host.verifyJwt(t, k), [jwt.result.jwt, key.result.public_key])).valid, true);

    // Another app of the same site (one group): the same database, so the
    // same user and key, unlocked on its own (sessions are per frame).
    const www = await open(context, server.hosts[1], server.kms);
    assert.equal(await www.evaluate(() => window.host.connectError), null);
    const status = await www.evaluate(() => window.host.settle(window.host.kms.status({ user: 'alice' })));
    assert.equal(status.result.state, 'set_up', JSON.stringify(status));
    assert.equal(status.result.session, false);
    const pub = await www.evaluate(() => window.host.settle(window.host.kms.vapidPublic({ user: 'alice' })));
    assert.equal(pub.result.current.public_key, key.result.public_key);
  } finally {
    await chromium.close();
  }
});
