// The e2e tests' host page (origin A): connects to the KMS origin named in
// `?kms=`, and exposes the client to the test driver as `window.host`.
import { Kms, KmsError, base64UrlDecode } from './kms-client.js';

const params = new URLSearchParams(location.search);
const kmsOrigin = params.get('kms') ?? 'http://localhost:8081';

// Verifies an ES256 JWT with the browser's own WebCrypto: an implementation
// independent of the KMS's Rust code.
async function verifyJwt(jwt, publicKeyB64) {
  const [h, p, s] = jwt.split('.');
  const key = await crypto.subtle.importKey('raw', base64UrlDecode(publicKeyB64),
    { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  const valid = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key,
    base64UrlDecode(s), new TextEncoder().encode(`${h}.${p}`));
  const decode = (x) => JSON.parse(new TextDecoder().decode(base64UrlDecode(x)));
  return { valid, header: decode(h), payload: decode(p) };
}

// A call that resolves with {ok, result} or {ok: false, code, message}: the
// driver checks codes without exceptions crossing the CDP boundary.
async function settle(promise) {
  try {
    return { ok: true, result: await promise };
  } catch (e) {
    return { ok: false, code: e.code, message: e.message, isKmsError: e instanceof KmsError, retryAfterMs: e.retryAfterMs };
  }
}

window.host = { Kms, KmsError, verifyJwt, settle, kmsOrigin, kms: null, connectError: null };
// A module runs after the document is parsed: a test that waits for an
// element of this page inside a frame waits for this mark instead, which
// says that `window.host` is there.
document.body.dataset.host = 'loaded';
// `?expectBuild=` pins the KMS build (the integrity tests).
const expectBuild = params.get('expectBuild') ?? undefined;
// `?readyTimeoutMs=` (the misconfiguration tests: an answer that is not
// `timeout` came before it).
const readyTimeoutMs = params.has('readyTimeoutMs') ? Number(params.get('readyTimeoutMs')) : undefined;
window.host.ready = Kms.connect({ kmsOrigin, container: document.getElementById('kms-slot'), expectBuild, readyTimeoutMs })
  .then((kms) => { window.host.kms = kms; return true; })
  .catch((e) => { window.host.connectError = `${e.code}: ${e.message}`; return false; });
