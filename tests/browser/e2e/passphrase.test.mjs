// Passphrase set-up and unlock typed into the KMS iframe, a VAPID key and a
// JWT checked with the host page's own WebCrypto, state surviving a reload,
// a wrong passphrase refused and throttled, errors carrying stable codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { suite, hostPage, kmsFrame, call, startUi, uiResult, typePassphrase, frameAtRest, ENGINE } from './harness.mjs';

const PASSPHRASE = 'correct horse battery staple';
const s = suite();

test('passphrase set-up and unlock typed into the KMS frame; VAPID JWT verified by WebCrypto in the host', async () => {
  const page = await hostPage(s.context, s.server.origins);
  const frame = kmsFrame(page);

  // Before anything: `status` says to set alice up, and a session method
  // answers `not_found` (not `locked`: there is nothing to unlock), as a
  // KmsError.
  const unknown = await call(page, 'status', { user: 'alice' });
  assert.deepEqual(unknown.result, { user: 'alice', state: 'unknown', methods: [], session: false });
  const early = await call(page, 'signJwt', { user: 'alice', claims: { aud: 'https://push.example.net', exp: 1, sub: 'mailto:a@example.com' } });
  assert.equal(early.ok, false);
  assert.equal(early.code, 'not_found');
  assert.equal(early.isKmsError, true);

  // Methods that carry secrets cannot be called by the page.
  const direct = await call(page, 'call', 'unlock');
  assert.equal(direct.code, 'invalid_input');
  assert.match(direct.message, /carries secrets/);

  await startUi(page, 'setup', { user: 'alice', method: 'passphrase', label: 'laptop' });
  await assert.doesNotReject(frame.locator('#kms-panel').waitFor({ state: 'visible' }));
  assert.match(await frame.locator('#kms-title').textContent(), /Set up keys for alice/);
  assert.match(await frame.locator('#kms-origin').textContent(), new RegExp(s.server.origins.host));
  // A password manager files the passphrase under the user id.
  assert.equal(await frame.locator('#kms-username').inputValue(), 'alice');
  assert.equal(await frame.locator('#kms-username').getAttribute('autocomplete'), 'username');
  await typePassphrase(page, PASSPHRASE);
  const setup = await uiResult(page);
  assert.equal(setup.ok, true, JSON.stringify(setup));
  assert.equal(setup.result.user, 'alice');
  assert.equal(setup.result.enrollment.method, 'passphrase');
  // The host gets no session token.
  assert.equal('session' in setup.result, false);
  await frame.locator('#kms-panel').waitFor({ state: 'hidden' });

  const known = await call(page, 'status', { user: 'alice' });
  assert.deepEqual(known.result, { user: 'alice', state: 'set_up', methods: ['passphrase'], session: true });
  const key = await call(page, 'vapidGenerate', { user: 'alice' });
  assert.equal(key.ok, true, JSON.stringify(key));
  const asKey = await page.evaluate(() => window.host.kms.applicationServerKey({ user: 'alice' }).then((k) => k.length));
  assert.equal(asKey, 65);

  const exp = Math.floor(Date.now() / 1000) + 12 * 3600;
  const jwt = await call(page, 'signJwt', { user: 'alice', claims: { aud: 'https://fcm.googleapis.com', exp, sub: 'mailto:ops@example.com' } });
  assert.equal(jwt.ok, true, JSON.stringify(jwt));
  assert.equal(jwt.result.authorization, `vapid t=${jwt.result.jwt}, k=${key.result.public_key}`);
  const checked = await page.evaluate(([t, k]) => window.host.verifyJwt(t, k), [jwt.result.jwt, key.result.public_key]);
  assert.equal(checked.valid, true);
  assert.deepEqual(checked.header, { typ: 'JWT', alg: 'ES256' });
  assert.deepEqual(checked.payload, { aud: 'https://fcm.googleapis.com', exp, sub: 'mailto:ops@example.com' });
  // A tampered token does not verify with the same check.
  const forged = jwt.result.jwt.replace(/\.[^.]+\./, `.${Buffer.from(JSON.stringify({ aud: 'https://evil.example', exp, sub: 'mailto:ops@example.com' })).toString('base64url')}.`);
  assert.equal((await page.evaluate(([t, k]) => window.host.verifyJwt(t, k), [forged, key.result.public_key])).valid, false);

  // RFC 8292 rules hold in the browser build too.
  const badAud = await call(page, 'signJwt', { user: 'alice', claims: { aud: 'https://fcm.googleapis.com/fcm/send/x', exp, sub: 'mailto:ops@example.com' } });
  assert.equal(badAud.code, 'invalid_input');

  const locked = await call(page, 'lock', { user: 'alice' });
  assert.equal(locked.ok, true);
  const after = await call(page, 'signJwt', { user: 'alice', claims: { aud: 'https://fcm.googleapis.com', exp, sub: 'mailto:ops@example.com' } });
  assert.equal(after.code, 'locked');
  assert.equal((await call(page, 'status', { user: 'alice' })).result.session, false);

  // Unlock again, typed.
  await startUi(page, 'unlock', { user: 'alice' });
  await frame.locator('#kms-panel').waitFor({ state: 'visible' });
  assert.equal(await frame.locator('#kms-confirm-field').isVisible(), false);
  await typePassphrase(page, PASSPHRASE);
  const unlocked = await uiResult(page);
  assert.equal(unlocked.ok, true, JSON.stringify(unlocked));
  await page.close();
});

test('state survives a reload: same user, same key; the session does not', async () => {
  const page = await hostPage(s.context, s.server.origins);
  const before = await call(page, 'vapidPublic', { user: 'alice' });
  assert.equal(before.ok, true, JSON.stringify(before));
  await page.reload();
  assert.equal(await page.evaluate(() => window.host.ready), true);
  const again = await call(page, 'vapidPublic', { user: 'alice' });
  assert.equal(again.result.current.kid, before.result.current.kid);
  const status = await call(page, 'sessionStatus', { user: 'alice' });
  assert.equal(status.code, 'locked');
  const list = await call(page, 'listEnrollments', { user: 'alice' });
  assert.equal(list.result.enrollments.length, 1);
  assert.equal(list.result.enrollments[0].label, 'laptop');
  await page.close();
});

test('a wrong passphrase is refused in the frame, then throttled; the right one works after the wait', async () => {
  const page = await hostPage(s.context, s.server.origins);
  const frame = kmsFrame(page);
  await startUi(page, 'unlock', { user: 'alice', method: 'passphrase' });
  await frame.locator('#kms-panel').waitFor({ state: 'visible' });
  // Three free failures (the default policy), each shown in words.
  for (let i = 0; i < 3; i++) {
    await typePassphrase(page, `wrong passphrase number ${i}`);
    await frame.locator('#kms-error', { hasText: 'Wrong passphrase or passkey.' }).waitFor();
    await frame.locator('#kms-error').evaluate((e) => { e.textContent = ''; });
  }
  // The fourth failure starts the back-off (1 s, then 2 s, 4 s, ...): an
  // attempt inside it is refused without running the KDF, whatever its
  // passphrase. Wrong ones go on until the back-off is at least 2 s (the
  // doubling gets there however slow the browser's driver is), then the
  // right one, at once, is refused as well.
  const shown = frame.locator('#kms-error', { hasText: /Wrong passphrase or passkey\.|Too many failed attempts\. Try again in \d+ s\./ });
  const clear = () => frame.locator('#kms-error').evaluate((e) => { e.textContent = ''; });
  for (let i = 3, failures = 3; failures < 5 && i < 12; i++) {
    await typePassphrase(page, `wrong passphrase number ${i}`);
    await shown.waitFor();
    if (/Wrong passphrase/.test(await shown.textContent())) failures += 1;
    await clear();
  }
  await typePassphrase(page, PASSPHRASE);
  await shown.waitFor();
  const m = /Try again in (\d+) s\./.exec(await shown.textContent());
  assert.ok(m, `the right passphrase inside the back-off: ${await shown.textContent()}`);
  // The page's request is still pending: the user may retry in the frame.
  await page.waitForTimeout(Number(m[1]) * 1000 + 200);
  await typePassphrase(page, PASSPHRASE);
  const unlocked = await uiResult(page);
  assert.equal(unlocked.ok, true, JSON.stringify(unlocked));

  // The refusals are in the audit log, which verifies.
  const exported = await call(page, 'auditExport', { user: 'alice' });
  assert.equal(exported.ok, true, JSON.stringify(exported));
  const lines = exported.result.export.trim().split('\n').map((l) => JSON.parse(l));
  const unlocks = lines.filter((l) => l.type === 'entry' && l.event === 'unlock').map((l) => l.outcome);
  assert.ok(unlocks.filter((o) => o === 'failed').length >= 4, JSON.stringify(unlocks));
  assert.ok(unlocks.includes('refused'), JSON.stringify(unlocks));
  const report = await call(page, 'auditVerify', { export: exported.result.export });
  assert.equal(report.result.valid, true, JSON.stringify(report.result));
  // A tampered export fails.
  const tampered = exported.result.export.replace('"outcome":"failed"', '"outcome":"ok"');
  const bad = await call(page, 'auditVerify', { export: tampered });
  assert.equal(bad.result.valid, false);
  await page.close();
});

test('a cancelled request rejects with `cancelled`', async () => {
  const page = await hostPage(s.context, s.server.origins);
  const frame = kmsFrame(page);
  await startUi(page, 'unlock', { user: 'alice' });
  // As a user would: the panel is read before it is answered (a click on
  // a frame that has just appeared is dropped by Chromium; frameAtRest).
  await frame.locator('#kms-submit:enabled').waitFor();
  await frameAtRest(page);
  await frame.locator('#kms-cancel').click();
  const result = await uiResult(page);
  assert.equal(result.code, 'cancelled');
  const unknown = await call(page, 'vapidPublic', { user: 'nobody' });
  assert.equal(unknown.code, 'not_found');
  await page.close();
});

// A user who clicks the app's button and starts typing: the keys land in
// the frame's passphrase field without a click on it, where the engine lets
// the frame take the focus. WebKit refuses focus() in a cross-origin frame
// the user has not touched: there the frame says to click the field, and
// after that click the keys land.
test('the passphrase field takes keys typed without a click on it, or the frame says to click it', async () => {
  const page = await hostPage(s.context, s.server.origins);
  const frame = kmsFrame(page);
  await page.evaluate(() => {
    const b = document.createElement('button');
    b.id = 'start';
    b.textContent = 'Set up';
    b.onclick = () => { window.host.pendingUi = window.host.settle(window.host.kms.setup({ user: 'kim', method: 'passphrase' })); };
    document.body.prepend(b);
  });
  await page.click('#start');
  // Typed once the panel takes input (it is read-only for its first 500 ms).
  await frame.locator('#kms-passphrase:not([readonly])').waitFor();
  await frameAtRest(page);
  const focused = await frame.locator('#kms-passphrase').evaluate((e) => document.activeElement === e);
  assert.equal(focused, ENGINE !== 'webkit', `${ENGINE}: the frame's focus() ${focused ? 'took' : 'did not take'}`);
  if (!focused) {
    assert.equal(await frame.locator('#kms-status').textContent(), 'Waiting for you: click the passphrase field to type.');
    await frame.locator('#kms-passphrase').click();
    assert.equal(await frame.locator('#kms-status').textContent(), 'Waiting for you.');
  }
  await page.keyboard.type(PASSPHRASE);
  assert.equal(await frame.locator('#kms-passphrase').inputValue(), PASSPHRASE);
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSPHRASE);
  await page.keyboard.press('Enter');
  const r = await uiResult(page);
  assert.equal(r.ok, true, JSON.stringify(r));
  await page.close();
});
