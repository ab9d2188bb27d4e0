// Two tabs of the same host, so two KMS frames and two engine workers on one
// IndexedDB: each call holds a Web Lock, so both work at once and the
// shared audit chain stays whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { suite, hostPage, call, startUi, uiResult, typePassphrase } from './harness.mjs';

const s = suite();

test('two workers on one database: concurrent signing, one verifiable chain', async () => {
  const a = await hostPage(s.context, s.server.origins);
  await startUi(a, 'setup', { user: 'erin', method: 'passphrase' });
  await typePassphrase(a, 'erin types this in tab one');
  assert.equal((await uiResult(a)).ok, true);
  assert.equal((await call(a, 'vapidGenerate', { user: 'erin' })).ok, true);

  const b = await hostPage(s.context, s.server.origins);
  // Sessions belong to a frame: tab two unlocks for itself.
  assert.equal((await call(b, 'sessionStatus', { user: 'erin' })).code, 'locked');
  await startUi(b, 'unlock', { user: 'erin' });
  await typePassphrase(b, 'erin types this in tab one');
  assert.equal((await uiResult(b)).ok, true);

  const exp = Math.floor(Date.now() / 1000) + 3600;
  const sign = (page, n) => page.evaluate(([count, e]) => Promise.all(Array.from({ length: count }, (_, i) =>
    window.host.settle(window.host.kms.signJwt({ user: 'erin', claims: { aud: 'https://fcm.googleapis.com', exp: e, sub: 'mailto:erin@example.com', jti: `${location.href.length}-${i}-${Math.random()}` } })))), [n, exp]);
  const [ra, rb] = await Promise.all([sign(a, 20), sign(b, 20)]);
  const all = [...ra, ...rb];
  assert.equal(all.filter((r) => r.ok).length, 40, JSON.stringify(all.filter((r) => !r.ok).slice(0, 3)));

  const exported = await call(a, 'auditExport', { user: 'erin' });
  const entries = exported.result.export.trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'entry');
  assert.equal(entries.filter((e) => e.event === 'jwt_sign' && e.outcome === 'ok').length, 40);
  assert.deepEqual(entries.map((e) => e.seq), entries.map((_, i) => i));
  const report = await call(b, 'auditVerify', { export: exported.result.export });
  assert.equal(report.result.valid, true, JSON.stringify(report.result));
});
