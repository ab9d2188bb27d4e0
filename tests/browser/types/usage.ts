// Compiled (not run) by `tsc -p tests/browser/types` in the test command: a
// PWA's calls type-check against kms-client.d.ts and the declarations
// generated from the Rust types, and mistakes do not (@ts-expect-error lines
// fail the build if they stop being errors).
import { Kms, KmsError, versionsCompatible } from '../../../kms-client/js/kms-client.js';

export async function pwa(registration: ServiceWorkerRegistration): Promise<string> {
  const kms = await Kms.connect({ kmsOrigin: 'https://kms.example.com' });
  const sameLine: boolean = versionsCompatible(Kms.version, kms.info.kms_version) && Kms.protocol === 1;
  const status = await kms.status({ user: 'alice' });
  const fresh: boolean = status.state === 'unknown' && status.session !== true;
  const opened = await kms.setup({ user: 'alice', method: 'passphrase' });
  const expires: number = opened.expires_ms;
  const key = await kms.vapidGenerate({ user: 'alice' });
  const kid: string = key.kid;
  await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key.public_key });
  const jwt = await kms.signJwt({ user: 'alice', claims: { aud: 'https://fcm.googleapis.com', exp: expires, sub: 'mailto:ops@example.com' } });
  const header: string = jwt.authorization;
  const exported = await kms.auditExport({ user: 'alice' });
  const report = await kms.auditVerify({ export: exported.export });
  const valid: boolean = report.valid;
  try {
    await kms.lock({ user: 'alice' });
  } catch (e) {
    if (e instanceof KmsError && e.code === 'locked') return 'locked';
  }
  // @ts-expect-error: the page never passes a session
  await kms.signJwt({ user: 'alice', session: 'x', claims: { aud: 'https://a.example', exp: 1, sub: 'mailto:a@b.c' } });
  // @ts-expect-error: claims are required
  await kms.signJwt({ user: 'alice' });
  // @ts-expect-error: not a method of the protocol
  await kms.call('steal_keys', {});
  // @ts-expect-error: a passphrase is typed in the KMS frame, never passed by the page
  await kms.call('unlock', { user: 'alice', credential: { kind: 'passphrase', passphrase: 'x' } });
  // Lasting changes are confirmed by the user in the KMS frame.
  const gone = await kms.userDelete({ user: 'alice' }, { timeoutMs: 60_000 });
  const exportText: string = gone.export;
  // @ts-expect-error: the page cannot call a confirmed method directly
  await kms.call('user_delete', { user: 'alice', confirm: 'alice' });
  // @ts-expect-error: nor pre-fill the user's decision
  await kms.userDelete({ user: 'alice', confirm: 'alice' });
  // A re-key is typed and confirmed in the KMS frame; the page names the user only.
  const rekeyed = await kms.rekey({ user: 'alice' });
  const kept: number = rekeyed.enrollments.length + rekeyed.resealed_keys;
  // @ts-expect-error: the frame keeps the new session
  rekeyed.session;
  // @ts-expect-error: nor can the page call it directly, with secrets
  await kms.call('rekey', { user: 'alice', rewrap: [] });
  return `${kid} ${header} ${valid} ${exportText.length} ${kept} ${fresh} ${sameLine}`;
}
