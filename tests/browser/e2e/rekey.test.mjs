// Re-keying after a compromise, in the KMS frame: the page asks, the frame
// says what will happen, the user types a passphrase and presents the PRF
// passkey there. Afterwards the old passphrase opens nothing, the same
// VAPID key still signs, and the audit log verifies with its rekey entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { suite, hostPage, kmsFrame, call, startUi, uiResult, typePassphrase, frameAtRest, virtualAuthenticator, NO_AUTHENTICATOR } from './harness.mjs';

const s = suite();
const OLD = 'correct horse battery staple';
const NEW = 'a new passphrase after the theft';

async function clickPasskey(page) {
  const frame = kmsFrame(page);
  await frame.locator('#kms-passkey').waitFor({ state: 'visible' });
  await frameAtRest(page);
  await frame.locator('#kms-passkey').click();
}

async function signs(page, user, publicKey) {
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const jwt = await call(page, 'signJwt', { user, claims: { aud: 'https://fcm.googleapis.com', exp, sub: 'mailto:carol@example.com' } });
  assert.equal(jwt.ok, true, JSON.stringify(jwt));
  return (await page.evaluate(([t, k]) => window.host.verifyJwt(t, k), [jwt.result.jwt, publicKey])).valid;
}

test('rekey in the frame: a passphrase typed and a passkey presented there; the old passphrase opens nothing after', { skip: NO_AUTHENTICATOR }, async () => {
  const page = await hostPage(s.context, s.server.origins);
  const frame = kmsFrame(page);
  await virtualAuthenticator(page);
  await startUi(page, 'setup', { user: 'carol', method: 'passphrase' });
  await typePassphrase(page, OLD);
  assert.equal((await uiResult(page)).ok, true);
  await startUi(page, 'addEnrollment', { user: 'carol', method: 'passkey_prf', label: 'phone' });
  await clickPasskey(page);
  const added = await uiResult(page);
  assert.equal(added.ok, true, JSON.stringify(added));
  const key = await call(page, 'vapidGenerate', { user: 'carol' });
  assert.equal(key.ok, true);

  // The page cannot run it itself: it carries secrets.
  const direct = await page.evaluate(() => window.host.settle(window.host.kms.call('rekey', { user: 'carol' })));
  assert.equal(direct.code, 'invalid_input');
  assert.match(direct.message, /carries secrets/);

  await startUi(page, 'rekey', { user: 'carol' });
  await frame.locator('#kms-panel').waitFor({ state: 'visible' });
  assert.match(await frame.locator('#kms-title').textContent(), /Re-key carol after a compromise/);
  assert.match(await frame.locator('#kms-origin').textContent(), new RegExp(s.server.origins.host));
  const terms = await frame.locator('#kms-terms').textContent();
  assert.match(terms, /Passphrase \(1\): type a new one/);
  assert.match(terms, /Passkeys \(1\): each asked for in turn/);
  assert.match(terms, /rotate the VAPID key/);
  // The passphrase, then the passkey (the virtual authenticator answers).
  await typePassphrase(page, NEW);
  const r = await uiResult(page);
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.result.enrollments.length, 2);
  assert.equal(r.result.resealed_keys, 2);
  assert.equal('session' in r.result, false, 'the host gets no session token');

  // The session goes on under the new master secret, with the same key.
  assert.equal(await signs(page, 'carol', key.result.public_key), true);
  const exported = await call(page, 'auditExport', { user: 'carol' });
  assert.equal(exported.ok, true, JSON.stringify(exported));
  const lines = exported.result.export.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.filter((l) => l.event === 'rekey' && l.outcome === 'ok').length, 1);
  const verified = await call(page, 'auditVerify', { export: exported.result.export });
  assert.equal(verified.result.valid, true, JSON.stringify(verified));
  assert.equal(verified.result.macs_checked, true);

  // After a lock: the old passphrase is wrong; the new one and the passkey open.
  assert.equal((await call(page, 'lock', { user: 'carol' })).ok, true);
  await startUi(page, 'unlock', { user: 'carol', method: 'passphrase' });
  await typePassphrase(page, OLD);
  await frame.locator('#kms-error', { hasText: /Wrong passphrase/ }).waitFor();
  await typePassphrase(page, NEW);
  assert.equal((await uiResult(page)).ok, true);
  assert.equal((await call(page, 'lock', { user: 'carol' })).ok, true);
  await startUi(page, 'unlock', { user: 'carol', method: 'passkey_prf' });
  await clickPasskey(page);
  const unlocked = await uiResult(page);
  assert.equal(unlocked.ok, true, JSON.stringify(unlocked));
  assert.equal(await signs(page, 'carol', key.result.public_key), true);
  await page.close();
});
