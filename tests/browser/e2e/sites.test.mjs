// The KMS embedded by an app of another site, and by apps of its own site.
// Chromium's fresh headless profile here (as its incognito windows) blocks
// third-party storage, and Firefox ESR as driven here fails the frame's
// storage probes the same way (SecurityError), with its default cookie
// behaviour and with 5 (Total Cookie Protection) alike: there the frame
// says storage_blocked. WebKit gives the frame storage of its own per
// embedding page's origin instead (partitioned). Host names of their own
// under `localhost` make the sites (`app.localhost`, `shop.localhost` and
// `kms.localhost` are three sites; `app.site.localhost`,
// `www.site.localhost` and `kms.site.localhost` one). docs/browser.md
// section 5, "Sites".
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { browser, serveNamed, typePassphrase, startUi, uiResult, ENGINE, PARTITION } from './harness.mjs';

const servers = [];
after(() => { for (const s of servers) s.close(); });

async function open(context, host, kms) {
  const page = await context.newPage();
  await page.goto(`${host}/index.html?kms=${encodeURIComponent(kms)}&readyTimeoutMs=60000`);
  await page.evaluate(() => window.host.ready);
  return page;
}

// Sets alice up in `page` with a VAPID key (`answer` types the passphrase
// where the KMS asks: in its frame by default), and checks a JWT signed with
// it; resolves with the public key.
async function aliceWithKey(page, answer = typePassphrase) {
  await startUi(page, 'setup', { user: 'alice', method: 'passphrase' });
  await answer(page, 'correct horse battery staple');
  assert.equal((await uiResult(page)).ok, true);
  const key = await page.evaluate(() => window.host.settle(window.host.kms.vapidGenerate({ user: 'alice' })));
  assert.equal(key.ok, true, JSON.stringify(key));
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const jwt = await page.evaluate((e) => window.host.settle(window.host.kms.signJwt({ user: 'alice',
    claims: { aud: 'https://fcm.googleapis.com', exp: e, sub: 'mailto:alice@example.com' } })), exp);
  assert.equal(jwt.ok, true, JSON.stringify(jwt));
  assert.equal((await page.evaluate(([t, k]) => window.host.verifyJwt(t, k), [jwt.result.jwt, key.result.public_key])).valid, true);
  return key.result.public_key;
}

const status = (page, user) => page.evaluate((u) => window.host.settle(window.host.kms.status({ user: u })), user);

const BLOCKS = ENGINE === 'webkit' && 'WebKit partitions third-party storage instead of blocking it (the cross-site test in WebKit below)';
test('cross-site with third-party storage blocked: connect says storage_blocked at once, with the way out', { skip: BLOCKS }, async () => {
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

// Where third-party storage is blocked, the KMS in a window of its own: the
// page calls connect({popup: true}) from a click, the KMS page opens at the
// top (first-party storage), and the user answers there.
test('cross-site with third-party storage blocked: the KMS in a window of its own works', { skip: BLOCKS }, async () => {
  const server = await serveNamed({ hostNames: ['app.localhost'], kmsName: 'kms.localhost' });
  servers.push(server);
  const chromium = await browser();
  try {
    const context = await chromium.newContext();
    const page = await open(context, server.hosts[0], server.kms);
    assert.match(await page.evaluate(() => window.host.connectError), /^storage_blocked: .*open it in a window of its own \(connect\(\{popup: true\}\) from a click\)/);
    // The app's button, as an app would offer it after storage_blocked.
    await page.evaluate(() => {
      const b = document.createElement('button');
      b.id = 'kms-window';
      b.textContent = 'Open the key manager';
      b.onclick = () => {
        window.host.popupReady = window.host.Kms.connect({ kmsOrigin: window.host.kmsOrigin, popup: true })
          .then((k) => { window.host.kms = k; return null; }, (e) => `${e.code}: ${e.message}`);
      };
      document.body.prepend(b);
    });
    const openWindow = async () => {
      const [popup] = await Promise.all([context.waitForEvent('page'), page.click('#kms-window')]);
      assert.equal(await page.evaluate(() => window.host.popupReady), null);
      assert.equal(new URL(popup.url()).origin, server.kms);
      return popup;
    };
    const inWindow = (popup) => async (_, passphrase) => {
      await popup.locator('#kms-passphrase:not([readonly])').waitFor();
      await popup.locator('#kms-passphrase').fill(passphrase);
      if (await popup.locator('#kms-confirm-field').isVisible()) await popup.locator('#kms-passphrase-confirm').fill(passphrase);
      await popup.locator('#kms-submit').click();
    };
    const popup = await openWindow();
    const publicKey = await aliceWithKey(page, inWindow(popup));
    // The window closed by the user: the page's calls hear `disconnected`.
    await popup.close();
    const after = await page.evaluate(() => window.host.settle(window.host.kms.status({ user: 'alice' })));
    assert.equal(after.code, 'disconnected', JSON.stringify(after));
    // Opened again: the KMS's own storage kept alice and her key.
    const again = await openWindow();
    assert.equal((await status(page, 'alice')).result.state, 'set_up');
    const pub = await page.evaluate(() => window.host.settle(window.host.kms.vapidPublic({ user: 'alice' })));
    assert.equal(pub.result.current.public_key, publicKey);
    await again.close();
  } finally {
    await chromium.close();
  }
});

// Serves the test host page under `hostNames` (one group) and the KMS under
// `kmsName`; sets alice up with a key in the first app, opens the second,
// and runs `check({context, server, publicKey, second})`.
async function aliceThenSecondApp(hostNames, kmsName, check) {
  const server = await serveNamed({ hostNames, kmsName, group: true });
  servers.push(server);
  const chromium = await browser();
  try {
    const context = await chromium.newContext();
    const first = await open(context, server.hosts[0], server.kms);
    assert.equal(await first.evaluate(() => window.host.connectError), null);
    const publicKey = await aliceWithKey(first);
    const second = await open(context, server.hosts[1], server.kms);
    assert.equal(await second.evaluate(() => window.host.connectError), null);
    await check({ context, server, publicKey, second });
  } finally {
    await chromium.close();
  }
}

test('cross-site in WebKit: the KMS works, with a database per embedding origin', { skip: ENGINE !== 'webkit' && `${ENGINE} blocks third-party storage here (the tests before)` }, async () => {
  // Two apps of two sites, one group: grouped or not, each has its own
  // database, so alice of one is unknown to the other.
  await aliceThenSecondApp(['app.localhost', 'shop.localhost'], 'kms.localhost', async ({ context, server, second }) => {
    assert.equal((await status(second, 'alice')).result.state, 'unknown');
    // The first app, opened again, still has her.
    const again = await open(context, server.hosts[0], server.kms);
    assert.equal((await status(again, 'alice')).result.state, 'set_up');
  });
});

test("same-site: the KMS on a subdomain of the app's site works; the apps of that site share one database, except in WebKit", async () => {
  // Another app of the same site (one group): in Chromium and Firefox the
  // same database, so the same user and key, unlocked on its own (sessions
  // are per frame); in WebKit a database of its own.
  await aliceThenSecondApp(['app.site.localhost', 'www.site.localhost'], 'kms.site.localhost', async ({ publicKey, second }) => {
    const seen = await status(second, 'alice');
    if (PARTITION === 'origin') {
      assert.equal(seen.result.state, 'unknown', JSON.stringify(seen));
      return;
    }
    assert.equal(seen.result.state, 'set_up', JSON.stringify(seen));
    assert.equal(seen.result.session, false);
    const pub = await second.evaluate(() => window.host.settle(window.host.kms.vapidPublic({ user: 'alice' })));
    assert.equal(pub.result.current.public_key, publicKey);
  });
});
