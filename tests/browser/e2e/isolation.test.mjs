// The trust boundary between the host page and the KMS origin: messages
// from a third origin are ignored, a third origin cannot frame the KMS, the
// host cannot reach the KMS's IndexedDB, document or worker, and the KMS
// pages carry their security headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { suite, hostPage, kmsFrame, call, startUi, uiResult, typePassphrase } from './harness.mjs';

const s = suite();

test('messages from a third origin are ignored and counted', async () => {
  const page = await hostPage(s.context, s.server.origins);
  const before = (await call(page, 'stats')).result;
  // The third origin's page sits in the host page next to the KMS frame and
  // posts to it: a connect with its own port, a call, a forged result.
  const verdict = await page.evaluate((third) => new Promise((resolve) => {
    window.addEventListener('message', (e) => { if (e.origin === third && e.data.third) resolve(e.data); });
    const f = document.createElement('iframe');
    f.src = `${third}/index.html`;
    document.getElementById('third-slot').appendChild(f);
  }), s.server.origins.third);
  assert.equal(verdict.answers, 0);
  const after = (await call(page, 'stats')).result;
  assert.equal(after.dropped - before.dropped, 3);
  // The host's own channel still works.
  assert.equal((await call(page, 'vapidPublic', { user: 'nobody' })).code, 'not_found');
  await page.close();
});

test('a host that skips the client cannot post params that are not JSON', async () => {
  const page = await hostPage(s.context, s.server.origins);
  // A hostile host posts on the port directly: postMessage carries BigInts,
  // cycles, Dates, NaN and Maps, which JSON (what the engine reads) does not.
  // Here the page's port is made to swap the params the client checked.
  const answers = await page.evaluate(async () => {
    const swap = {
      bigint: () => ({ n: 1n }),
      cycle: () => { const o = { user: 'nobody' }; o.self = o; return o; },
      date: () => ({ since: new Date(0) }),
      nan: () => ({ n: NaN }),
      map: () => ({ m: new Map([[1, 2]]) }),
    };
    const post = MessagePort.prototype.postMessage;
    MessagePort.prototype.postMessage = function patched(m, ...rest) {
      if (m && m.t === 'call' && m.params && swap[m.params.swap]) m = { ...m, params: swap[m.params.swap]() };
      return post.call(this, m, ...rest);
    };
    const out = {};
    for (const name of Object.keys(swap)) out[name] = await window.host.settle(window.host.kms.call('info', { swap: name }));
    MessagePort.prototype.postMessage = post;
    return out;
  });
  for (const [name, answer] of Object.entries(answers)) {
    assert.equal(answer.ok, false, `${name}: answered ${JSON.stringify(answer)}`);
    assert.equal(answer.code, 'invalid_input', `${name}: ${answer.message}`);
  }
  // The channel still works.
  assert.equal((await call(page, 'vapidPublic', { user: 'nobody' })).code, 'not_found');
  await page.close();
});

test('a third origin cannot frame the KMS (frame-ancestors)', async () => {
  // Engine-neutral: the refused frame still fires `load` (on the error
  // document each engine shows instead), and holds none of kms.html. The
  // same page served from an allowed host does (the control below).
  const loaded = async (origin) => {
    const page = await s.context.newPage();
    await page.goto(`${origin}/frame-kms.html?kms=${encodeURIComponent(s.server.origins.kms)}`);
    await page.waitForFunction(() => window.kmsFrameLoaded === true, null, { timeout: 10_000 });
    const frame = (await page.frames()).find((f) => f !== page.mainFrame());
    assert.ok(frame, 'the iframe element exists');
    const found = await frame.locator('#kms-status').count().catch(() => 0);
    await page.close();
    return found;
  };
  assert.equal(await loaded(s.server.origins.third), 0);
  assert.equal(await loaded(s.server.origins.host), 1, 'the allowed host frames the same page');
});

test('the host page cannot read the KMS IndexedDB, document or worker', async () => {
  const page = await hostPage(s.context, s.server.origins);
  await startUi(page, 'setup', { user: 'dave', method: 'passphrase' });
  await typePassphrase(page, 'dave has a long passphrase');
  assert.equal((await uiResult(page)).ok, true);

  const seen = await page.evaluate(async () => {
    const iframe = document.querySelector('#kms-slot iframe');
    const attempt = (f) => { try { f(); return 'allowed'; } catch (e) { return e.name; } };
    return {
      databases: (await indexedDB.databases()).map((d) => d.name),
      document: attempt(() => iframe.contentWindow.document.body),
      indexedDB: attempt(() => iframe.contentWindow.indexedDB.open('kms')),
      globals: attempt(() => iframe.contentWindow.Worker),
      contentDocument: iframe.contentDocument === null ? 'null' : 'visible',
    };
  });
  // The host origin has no database; the KMS origin's one is out of reach.
  assert.deepEqual(seen.databases, []);
  assert.equal(seen.document, 'SecurityError');
  assert.equal(seen.indexedDB, 'SecurityError');
  assert.equal(seen.globals, 'SecurityError');
  assert.equal(seen.contentDocument, 'null');
  // The KMS origin does hold the data (seen from inside its own frame; by
  // opening it, as WebKit lists no database its worker opened).
  const kmsStores = await (await page.frames()).find((f) => f.url().startsWith(s.server.origins.kms))
    .evaluate(() => new Promise((resolve, reject) => {
      const open = indexedDB.open('kms');
      open.onsuccess = () => { const names = [...open.result.objectStoreNames]; open.result.close(); resolve(names); };
      open.onerror = () => reject(open.error);
    }));
  assert.ok(kmsStores.length > 0, `the KMS origin's database 'kms' has no stores: ${kmsStores}`);
  await page.close();
});

test('the KMS pages carry the strict headers', async () => {
  for (const path of ['/kms.html', '/kms-frame.js', '/kms-engine.js', '/pkg/kms_worker_bg.wasm', '/missing']) {
    const response = await fetch(`${s.server.origins.kms}${path}`);
    const csp = response.headers.get('content-security-policy');
    assert.match(csp, /default-src 'none'/, path);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/, path);
    assert.match(csp, new RegExp(`frame-ancestors ${s.server.origins.host}(;|$)`), path);
    assert.equal(response.headers.get('cross-origin-resource-policy'), 'same-origin', path);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
  }
  const wasm = await fetch(`${s.server.origins.kms}/pkg/kms_worker_bg.wasm`);
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  const config = await (await fetch(`${s.server.origins.kms}/kms-config.json`)).json();
  assert.deepEqual(config.allowed_hosts, [s.server.origins.host]);
});

// The KMS in a window of its own serves an opener at the top only: a third
// origin that frames an allowed app page (which sends no frame-ancestors of
// its own) must not get a working KMS window through it, as a frame of the
// KMS would not have loaded there at all.
test('an allowed page framed by a third origin cannot open a KMS window that serves it', async () => {
  const { host, kms, third } = s.server.origins;
  const page = await s.context.newPage();
  await page.goto(`${third}/frame-kms.html?kms=${encodeURIComponent(host)}`);
  await page.evaluate((url) => {
    document.body.replaceChildren();
    const f = document.createElement('iframe');
    f.id = 'app';
    f.style.width = '600px';
    f.style.height = '400px';
    f.src = url;
    document.body.append(f);
  }, `${host}/index.html?kms=${encodeURIComponent(kms)}`);
  const app = page.frameLocator('#app');
  // `window.host` is set by a module, after `#kms-slot` is parsed: WebKit,
  // under load, ran the next step in between.
  await app.locator('body[data-host=loaded]').waitFor({ state: 'attached' });
  // The client refuses at once.
  const refused = await app.locator('#kms-slot').evaluate((_, origin) => window.host.Kms.connect({ kmsOrigin: origin, popup: true })
    .then(() => 'connected', (e) => e.code), kms);
  assert.equal(refused, 'invalid_input');
  // A page that skips the client, opening the window itself on a click:
  // the KMS page drops its connect (no answer), where it answers the same
  // page at the top (the control, below).
  const tryWindow = async (where) => {
    await where.locator('#kms-slot').evaluate((_, origin) => {
      const b = document.createElement('button');
      b.id = 'open-kms';
      b.textContent = 'Open';
      b.onclick = () => {
        const w = window.open(`${origin}/kms.html`, '_blank', 'popup,width=480,height=640');
        window.kmsWindowAnswer = new Promise((resolve) => {
          setTimeout(() => resolve('none'), 5_000);
          window.addEventListener('message', (e) => {
            if (e.source !== w || e.data?.t !== 'kms:hello') return;
            const channel = new MessageChannel();
            channel.port1.onmessage = (m) => resolve(m.data.t);
            w.postMessage({ t: 'kms:connect', v: 1 }, origin, [channel.port2]);
          });
        }).finally(() => w.close());
      };
      document.body.prepend(b);
    }, kms);
    await where.locator('#open-kms').click();
    return where.locator('#kms-slot').evaluate(() => window.kmsWindowAnswer);
  };
  assert.equal(await tryWindow(app), 'none');
  await page.close();
  const top = await hostPage(s.context, s.server.origins);
  assert.equal(await tryWindow(top), 'ready');
  await top.close();
});
