// Passkeys in the KMS iframe, through a CDP virtual authenticator with PRF:
// a PRF enrollment (the PRF output wraps the master secret) and a gate-mode
// enrollment (the KMS verifies an assertion), set up and unlocked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { suite, serve, hostPage, kmsFrame, call, startUi, uiResult, virtualAuthenticator, typePassphrase, NO_AUTHENTICATOR, ENGINE } from './harness.mjs';

const s = suite();

async function clickPasskey(page) {
  const frame = kmsFrame(page);
  await frame.locator('#kms-passkey').waitFor({ state: 'visible' });
  await frame.locator('#kms-passkey').click();
}

test('passkey PRF: set-up and unlock through a virtual authenticator with hasPrf', { skip: NO_AUTHENTICATOR }, async () => {
  const page = await hostPage(s.context, s.server.origins);
  const { cdp, authenticatorId } = await virtualAuthenticator(page);

  await startUi(page, 'setup', { user: 'bob', method: 'passkey_prf', label: 'phone' });
  await clickPasskey(page);
  const setup = await uiResult(page);
  assert.equal(setup.ok, true, JSON.stringify(setup));
  assert.equal(setup.result.enrollment.method, 'passkey_prf');
  assert.equal(setup.result.enrollment.protects_at_rest, true);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].rpId, 'localhost');

  const key = await call(page, 'vapidGenerate', { user: 'bob' });
  assert.equal(key.ok, true);
  assert.equal((await call(page, 'lock', { user: 'bob' })).ok, true);

  await startUi(page, 'unlock', { user: 'bob' });
  await clickPasskey(page);
  const unlocked = await uiResult(page);
  assert.equal(unlocked.ok, true, JSON.stringify(unlocked));
  assert.equal(unlocked.result.enrollment.method, 'passkey_prf');
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const jwt = await call(page, 'signJwt', { user: 'bob', claims: { aud: 'https://fcm.googleapis.com', exp, sub: 'mailto:bob@example.com' } });
  const checked = await page.evaluate(([t, k]) => window.host.verifyJwt(t, k), [jwt.result.jwt, key.result.public_key]);
  assert.equal(checked.valid, true);

  await page.close();
});

test('gate-mode passkey: set-up, then unlock by a verified assertion', { skip: NO_AUTHENTICATOR }, async () => {
  const page = await hostPage(s.context, s.server.origins);
  await virtualAuthenticator(page);
  await startUi(page, 'setup', { user: 'carol', method: 'passkey_gate' });
  // Named as what it is, with its consequence, and chosen explicitly: the
  // button does nothing until the box is ticked.
  const frame = kmsFrame(page);
  await frame.locator('#kms-passkey:enabled').waitFor();
  assert.equal(await frame.locator('#kms-passkey').textContent(), 'Create a gate-mode passkey');
  assert.match(await frame.locator('#kms-terms').textContent(), /does not protect the keys at rest/);
  await frame.locator('#kms-passkey').click();
  await frame.locator('#kms-error', { hasText: 'Tick the box' }).waitFor();
  assert.equal(await frame.locator('#kms-panel').isVisible(), true);
  await frame.locator('#kms-gate-ack').check();
  await clickPasskey(page);
  const setup = await uiResult(page);
  assert.equal(setup.ok, true, JSON.stringify(setup));
  assert.equal(setup.result.enrollment.method, 'passkey_gate');
  assert.equal(setup.result.enrollment.protects_at_rest, false);
  assert.equal((await call(page, 'lock', { user: 'carol' })).ok, true);

  await startUi(page, 'unlock', { user: 'carol' });
  await frame.locator('#kms-passkey').waitFor({ state: 'visible' });
  assert.equal(await frame.locator('#kms-passkey').textContent(), 'Unlock with a gate-mode passkey');
  await clickPasskey(page);
  const unlocked = await uiResult(page);
  assert.equal(unlocked.ok, true, JSON.stringify(unlocked));
  assert.equal(unlocked.result.enrollment.method, 'passkey_gate');
  const status = await call(page, 'sessionStatus', { user: 'carol' });
  assert.equal(status.ok, true);

  // A second way in: a passphrase added to the unlocked user, in the frame.
  await startUi(page, 'addEnrollment', { user: 'carol', method: 'passphrase', label: 'backup' });
  await frame.locator('#kms-passphrase').fill('a backup passphrase for carol');
  await frame.locator('#kms-passphrase-confirm').fill('a backup passphrase for carol');
  await frame.locator('#kms-submit').click();
  const added = await uiResult(page);
  assert.equal(added.ok, true, JSON.stringify(added));
  const list = await call(page, 'listEnrollments', { user: 'carol' });
  assert.deepEqual(list.result.enrollments.map((e) => e.method).sort(), ['passkey_gate', 'passphrase']);
  await page.close();
});

test('a deployment can forbid gate-mode passkeys: refused in the frame, PRF passkeys still offered', { skip: NO_AUTHENTICATOR }, async () => {
  const server = await serve({ kmsArgs: ['--forbid-passkey-gate'] });
  after(() => server.close());
  const page = await hostPage(s.context, server.origins);
  await virtualAuthenticator(page);
  await startUi(page, 'setup', { user: 'gina', method: 'passkey_gate' });
  const refused = await uiResult(page);
  assert.equal(refused.code, 'forbidden', JSON.stringify(refused));
  assert.match(refused.message, /does not allow gate-mode passkeys/);
  await startUi(page, 'setup', { user: 'gina', method: 'passkey_prf' });
  await clickPasskey(page);
  const setup = await uiResult(page);
  assert.equal(setup.ok, true, JSON.stringify(setup));
  await page.close();
});

// Where the frame has no WebAuthn (WebKitGTK has no PublicKeyCredential),
// it offers no passkey and answers a request that needs one `unsupported`
// at once, instead of failing inside the ceremony. Played here by taking
// PublicKeyCredential away from the KMS frame after a PRF enrollment.
test('without WebAuthn in the frame: no passkey is offered, and a request that needs one is unsupported', { skip: NO_AUTHENTICATOR }, async () => {
  const page = await hostPage(s.context, s.server.origins);
  await virtualAuthenticator(page);
  await startUi(page, 'setup', { user: 'erin', method: 'passphrase' });
  await typePassphrase(page, 'correct horse battery staple');
  assert.equal((await uiResult(page)).ok, true);
  await startUi(page, 'addEnrollment', { user: 'erin', method: 'passkey_prf', label: 'phone' });
  await clickPasskey(page);
  assert.equal((await uiResult(page)).ok, true);
  assert.equal((await call(page, 'lock', { user: 'erin' })).ok, true);

  const frame = (await page.frames()).find((f) => f.url().startsWith(s.server.origins.kms));
  await frame.evaluate(() => { delete window.PublicKeyCredential; });

  // Setting up a passkey: refused before any panel shows.
  await startUi(page, 'setup', { user: 'frank', method: 'passkey_prf' });
  const refused = await uiResult(page);
  assert.equal(refused.ok, false);
  assert.equal(refused.code, 'unsupported');
  assert.match(refused.message, /no passkeys \(WebAuthn\) here: use a passphrase/);
  // Unlock offers the passphrase only.
  await startUi(page, 'unlock', { user: 'erin' });
  await kmsFrame(page).locator('#kms-passphrase').waitFor({ state: 'visible' });
  assert.equal(await kmsFrame(page).locator('#kms-passkey').isVisible(), false);
  await typePassphrase(page, 'correct horse battery staple');
  assert.equal((await uiResult(page)).ok, true);
  // Asking for the passkey by name: unsupported.
  await startUi(page, 'unlock', { user: 'erin', method: 'passkey_prf' });
  const named = await uiResult(page);
  assert.equal(named.code, 'unsupported', JSON.stringify(named));
  assert.match(named.message, /this unlock of erin can only be answered with a passkey/);
  await page.close();
});

// The parts of the above that need no authenticator, in every engine: a
// passkey set-up where the frame has no WebAuthn, and a PRF set-up where
// the browser says it has no PRF (getClientCapabilities).
test('no WebAuthn, or no PRF, in the frame: a passkey set-up is unsupported at once; a passphrase still works', async () => {
  const page = await hostPage(s.context, s.server.origins);
  const frame = (await page.frames()).find((f) => f.url().startsWith(s.server.origins.kms));
  // (WebKitGTK has no PublicKeyCredential at all: only the second part.)
  const webAuthn = await frame.evaluate(() => {
    if (!window.PublicKeyCredential) return false;
    window.PublicKeyCredential.getClientCapabilities = async () => ({ 'extension:prf': false });
    return true;
  });
  assert.equal(webAuthn, ENGINE !== 'webkit');
  if (webAuthn) {
    await startUi(page, 'setup', { user: 'gwen', method: 'passkey_prf' });
    const noPrf = await uiResult(page);
    assert.equal(noPrf.code, 'unsupported', JSON.stringify(noPrf));
    assert.match(noPrf.message, /cannot use the PRF extension of passkeys: use a passphrase or a gate-mode passkey/);
  }

  await frame.evaluate(() => { delete window.PublicKeyCredential; });
  for (const method of ['passkey_prf', 'passkey_gate']) {
    await startUi(page, 'setup', { user: 'gwen', method });
    const refused = await uiResult(page);
    assert.equal(refused.code, 'unsupported', `${method}: ${JSON.stringify(refused)}`);
    assert.match(refused.message, /no passkeys \(WebAuthn\) here: use a passphrase/);
  }
  await startUi(page, 'setup', { user: 'gwen', method: 'passphrase' });
  await typePassphrase(page, 'correct horse battery staple');
  assert.equal((await uiResult(page)).ok, true);
  await page.close();
});
