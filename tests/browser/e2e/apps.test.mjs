// Users belong to the app whose page created them. Two allowed hosts of one
// site embed the KMS frame, which then shares one IndexedDB database between
// them: without a group, a user of the first host does not exist for the
// second (the same answers as a user nobody created, no unlock prompt), and
// the second may create its own user of that name; grouped, they share.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { suite, serve, hostPage, kmsFrame, call, startUi, uiResult, typePassphrase, PARTITION } from './harness.mjs';

const PASS_A = 'the first host user passphrase';
const PASS_B = 'the second host user passphrase';
const s = suite({ secondHost: true });

async function setUp(page, user, passphrase) {
  await startUi(page, 'setup', { user, method: 'passphrase' });
  await typePassphrase(page, passphrase);
  const r = await uiResult(page);
  assert.equal(r.ok, true, JSON.stringify(r));
  await kmsFrame(page).locator('#kms-panel').waitFor({ state: 'hidden' });
}

async function unlock(page, user, passphrase) {
  await startUi(page, 'unlock', { user, method: 'passphrase' });
  await typePassphrase(page, passphrase);
  return uiResult(page);
}

test('a user of one host is not found by another host of the same site', async () => {
  const a = await hostPage(s.context, s.server.origins);
  await setUp(a, 'alice', PASS_A);
  const key = await call(a, 'vapidGenerate', { user: 'alice' });
  assert.equal(key.ok, true, JSON.stringify(key));

  const b = await hostPage(s.context, { ...s.server.origins, host: s.server.origins.second });
  // Same site, same partition: the frame under B opens the same database
  // (in Chromium and Firefox; WebKit gives B a database of its own, so this
  // holds there without the rule).
  for (const [method, params] of [['vapidPublic', { user: 'alice' }], ['listEnrollments', { user: 'alice' }]]) {
    const seen = await call(b, method, params);
    const unknown = await call(b, method, { user: 'nobody' });
    assert.equal(seen.code, 'not_found', `${method}: ${JSON.stringify(seen)}`);
    assert.equal(seen.message.replace('alice', 'nobody'), unknown.message, method);
  }
  // No unlock prompt for a user B does not have: refused before any panel.
  await startUi(b, 'unlock', { user: 'alice', method: 'passphrase' });
  const refused = await uiResult(b);
  assert.equal(refused.code, 'not_found', JSON.stringify(refused));
  assert.equal(await kmsFrame(b).locator('#kms-panel').isVisible(), false);

  // B makes its own alice; each opens with its own passphrase only.
  await setUp(b, 'alice', PASS_B);
  assert.equal((await call(b, 'vapidPublic', { user: 'alice' })).result.current, null);
  await call(a, 'lock', { user: 'alice' });
  await startUi(a, 'unlock', { user: 'alice', method: 'passphrase' });
  await typePassphrase(a, PASS_B);
  await kmsFrame(a).locator('#kms-error', { hasText: 'Wrong passphrase' }).waitFor();
  await kmsFrame(a).locator('#kms-cancel').click();
  assert.equal((await uiResult(a)).code, 'cancelled');
  const right = await unlock(a, 'alice', PASS_A);
  assert.equal(right.ok, true, JSON.stringify(right));
  assert.equal((await call(a, 'vapidPublic', { user: 'alice' })).result.current.kid, key.result.kid);
  await a.close();
  await b.close();
});

test('two hosts in one group share their users', async () => {
  const server = await serve({ secondHost: true, hostGroup: true });
  const context = await s.chromium.newContext();
  try {
    const a = await hostPage(context, server.origins);
    await setUp(a, 'carol', PASS_A);
    const b = await hostPage(context, { ...server.origins, host: server.origins.second });
    const listed = await call(b, 'listEnrollments', { user: 'carol' });
    if (PARTITION === 'origin') {
      // WebKit keys the frame's storage by the page's origin: B's frame has
      // a database of its own, and a group cannot share across origins.
      assert.equal(listed.code, 'not_found', JSON.stringify(listed));
      return;
    }
    assert.equal(listed.ok, true, JSON.stringify(listed));
    const opened = await unlock(b, 'carol', PASS_A);
    assert.equal(opened.ok, true, JSON.stringify(opened));
  } finally {
    await context.close();
    server.close();
  }
});
