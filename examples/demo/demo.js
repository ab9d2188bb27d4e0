// The demo PWA: every call an app makes to use the KMS for Web Push, one
// step per function, in the order of the page. The KMS client is the only
// way to the keys; the relay and the push service are plain HTTP.
//
// Copy from here: connect(), setup(), unlock(), createVapidKey(),
// subscribe(), grantLease(), carryTokenRequests(), rotate(), exportAudit().
import { Kms } from './kms-client.js';
import { createUserAgentKeys, decryptPushMessage, b64urlEncode, b64urlDecode } from './push-crypto.js';

// ---- configuration ---------------------------------------------------------

// demo-config.json is written next to this page by scripts/demo.sh (and the
// e2e tests); without it, the ports next to this page's are assumed.
async function loadConfig() {
  const port = Number(location.port || 80);
  const defaults = {
    kmsOrigin: `http://localhost:${port + 1}`,
    pushService: `http://localhost:${port + 2}`,
    relay: `http://localhost:${port + 3}`,
  };
  try {
    const res = await fetch('demo-config.json', { cache: 'no-store' });
    return res.ok ? { ...defaults, ...(await res.json()) } : defaults;
  } catch {
    return defaults;
  }
}

const config = await loadConfig();
const $ = (id) => document.getElementById(id);
const user = () => $('user').value.trim();

// What the page knows. The lease credential is not here: the page carries
// it to the relay sealed, and the tokens back sealed, and can read neither.
const state = {
  kms: null,
  relayInfo: null,
  // 'browser' (pushManager) or 'local' (the local push service).
  pushPath: null,
  // The local push service: the user agent's keys (this page plays the
  // browser) and the last message number read.
  ua: null,
  localEndpoint: null,
  lastMessage: 0,
  lastExport: null,
  tokensCarried: 0,
};

// ---- step 0: connect -------------------------------------------------------

async function connect() {
  // Embeds the KMS iframe and completes the handshake (docs/browser.md).
  state.kms = await Kms.connect({ kmsOrigin: config.kmsOrigin, container: $('kms-slot') });
  // The frame asks for the user (a passphrase, a passkey, a confirmation):
  // point at it and bring all of it into view. The frame accepts input
  // only while its panel is entirely visible (docs/browser.md).
  state.kms.onattention = (needed) => {
    $('kms-attention').hidden = !needed;
    if (needed) $('kms-slot').scrollIntoView({ block: 'nearest' });
  };
}

// ---- step 1: set up, unlock, lock ------------------------------------------

async function setup(method) {
  // The passphrase is typed, or the passkey created, inside the KMS frame.
  const r = await state.kms.setup({ user: user(), method, label: method === 'passphrase' ? 'demo passphrase' : 'demo passkey' });
  await showSession(`Set up with ${describeMethod(r.enrollment.method)}. `);
}

async function unlock() {
  const r = await state.kms.unlock({ user: user() });
  await showSession(`Unlocked with ${describeMethod(r.enrollment.method)}. `);
}

async function lock() {
  await state.kms.lock({ user: user() });
  await showSession();
}

function describeMethod(method) {
  return { passphrase: 'a passphrase', passkey_prf: 'a passkey (PRF)', passkey_gate: 'a passkey' }[method] ?? method;
}

// The session line of step 1, and the badge above the KMS frame (always
// in view).
async function showSession(prefix = '') {
  const el = $('session');
  let enrollments;
  try {
    ({ enrollments } = await state.kms.listEnrollments({ user: user() }));
  } catch (e) {
    if (e.code !== 'not_found') throw e;
    say($('kms-badge'), 'warn', `${user()}: no keys yet`);
    return say(el, 'warn', `No keys for ${user()} yet: set up with a passphrase or a passkey.`);
  }
  const ways = enrollments.map((e) => describeMethod(e.method)).join(' and ');
  try {
    const { expires_ms } = await state.kms.sessionStatus({ user: user() });
    say(el, 'ok', `${prefix}Unlocked until ${clock(expires_ms)} (unlocks with ${ways}).`);
    say($('kms-badge'), 'ok', `${user()}: unlocked until ${clock(expires_ms)}`);
  } catch (e) {
    if (e.code !== 'locked') throw e;
    say(el, '', `${prefix}Locked (unlocks with ${ways}). Calls that need the keys answer "locked"; a relay's lease keeps working.`);
    say($('kms-badge'), '', `${user()}: locked`);
  }
  await showVapid();
}

// ---- step 2: the VAPID key -------------------------------------------------

async function createVapidKey() {
  await state.kms.vapidGenerate({ user: user() });
  await showVapid();
}

async function showVapid() {
  let current = null;
  let retired = [];
  try {
    ({ current, retired } = await state.kms.vapidPublic({ user: user() }));
  } catch (e) {
    if (e.code !== 'not_found') throw e;
  }
  $('vapid-generate').disabled = current !== null;
  facts($('vapid'), current ? {
    'applicationServerKey': current.public_key,
    'Key id (kid)': current.kid,
    'Version': `${current.version}, created ${clock(current.created_ms)}`,
    'Retired keys': retired.length ? retired.map((k) => `v${k.version} ${short(k.kid)}`).join(', ') : 'none',
  } : {});
}

// ---- step 3: subscribe -----------------------------------------------------

async function subscribe() {
  const applicationServerKey = await state.kms.applicationServerKey({ user: user() });
  let subscription;
  try {
    subscription = await subscribeWithBrowser(applicationServerKey);
    state.pushPath = 'browser';
    note($('push-path'), 'Subscribed with the browser\'s own push service: messages arrive in the service worker.');
  } catch (e) {
    subscription = await subscribeWithLocalService(applicationServerKey);
    state.pushPath = 'local';
    note($('push-path'), `The browser's push service cannot be used here (${e.name}: ${e.message}). ` +
      `Using the local push service at ${config.pushService} instead: it checks every push as FCM or ` +
      'Mozilla\'s service would, and this page decrypts the messages itself (RFC 8291).');
  }
  // The KMS keeps the subscription (a lease's audiences come from it), the
  // relay gets it to push to.
  const info = await state.kms.subscriptionAdd({ user: user(), subscription });
  await relay('/v1/subscription', { user: user(), subscription });
  facts($('subscription'), {
    'Endpoint': subscription.endpoint,
    'Push service': info.origin,
    'Made with key': info.kid,
    'Delivered by': state.pushPath === 'browser' ? 'the browser (service worker)' : 'the local push service (polled, decrypted here)',
  });
}

async function subscribeWithBrowser(applicationServerKey) {
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) {
    throw Object.assign(new Error('this browser has no Push API'), { name: 'NotSupportedError' });
  }
  const registration = await withTimeout(navigator.serviceWorker.ready, 5_000, 'the service worker is not running');
  // A subscription is bound to one key: the browser refuses a second one
  // with another key, so the old one goes first.
  const old = await registration.pushManager.getSubscription();
  if (old) await old.unsubscribe();
  const sub = await withTimeout(
    registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey }),
    10_000, 'the push service did not answer in 10 s (offline?)');
  return sub.toJSON();
}

// What a browser does inside pushManager.subscribe(): make an ECDH key pair
// and an auth secret, and register with the push service.
async function subscribeWithLocalService(applicationServerKey) {
  const ua = await createUserAgentKeys();
  const res = await fetch(`${config.pushService}/subscribe`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      application_server_key: b64urlEncode(applicationServerKey),
      p256dh: b64urlEncode(ua.publicKey),
      auth: b64urlEncode(ua.auth),
    }),
  });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`the local push service refused the subscription (${res.status}): ${body.error}`);
  Object.assign(state, { ua, localEndpoint: body.endpoint, lastMessage: 0 });
  await localPush.save(user(), { ua, endpoint: body.endpoint, lastMessage: 0 });
  return body;
}

// The local subscription survives a reload, as a browser's would: the user
// agent's keys (the private key a non-extractable CryptoKey, which IndexedDB
// stores as it is), the endpoint and the last message read, in this
// origin's IndexedDB, per user.
const localPush = {
  open() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open('kms-demo', 1);
      req.onupgradeneeded = () => req.result.createObjectStore('local-push');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  },
  async run(mode, op) {
    const db = await this.open();
    try {
      return await new Promise((resolve, reject) => {
        const req = op(db.transaction('local-push', mode).objectStore('local-push'));
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    } finally {
      db.close();
    }
  },
  save(u, value) { return this.run('readwrite', (store) => store.put(value, u)); },
  load(u) { return this.run('readonly', (store) => store.get(u)); },
};

// After a reload or a change of user: where this user's pushes arrive.
async function restoreSubscription() {
  Object.assign(state, { pushPath: null, ua: null, localEndpoint: null, lastMessage: 0 });
  const saved = await localPush.load(user());
  if (saved) {
    Object.assign(state, { pushPath: 'local', ua: saved.ua, localEndpoint: saved.endpoint, lastMessage: saved.lastMessage });
    facts($('subscription'), { 'Endpoint': saved.endpoint, 'Delivered by': 'the local push service (restored after a reload)' });
  } else {
    $('subscription').replaceChildren();
  }
}

// ---- step 4: the relay's lease ---------------------------------------------

async function grantLease() {
  if (!state.relayInfo) throw new Error('the relay does not answer yet');
  const minutes = Number($('lease-minutes').value);
  const perHour = Number($('lease-rate').value);
  // Audiences left empty: the push services of the user's subscriptions.
  // Granted to the relay's courier key: the credential comes back sealed to
  // the relay, so this page carries it without being able to read it.
  const { lease, sealed_credential } = await state.kms.leaseCreate({
    user: user(),
    lease: { relay: state.relayInfo.relay, audiences: [], lifetime_s: Math.round(minutes * 60), tokens_per_hour: perHour, max_batch: Math.min(10, perHour) },
    relay_key: state.relayInfo.relay_key,
  });
  // The lease's courier key travels inside the sealed credential: the
  // relay uses that copy, never one a page could name.
  await relay('/v1/lease', { user: user(), lease_id: lease.id, sealed_credential });
  facts($('lease'), {
    'Lease': lease.id,
    'For': `${lease.relay}, push to ${lease.audiences.join(', ')}`,
    'Key': lease.kid,
    'Ends': clock(lease.expires_ms),
    'Quota': `${lease.tokens_per_hour} tokens per hour, ${lease.max_batch} per request`,
  });
}

async function revokeLease() {
  if (!state.relayInfo) throw new Error('the relay does not answer yet');
  // Every active lease of this relay (the page may have been reloaded).
  const { leases } = await state.kms.leaseList({ user: user() });
  const active = leases.filter((l) => l.state === 'active' && l.relay === state.relayInfo.relay);
  for (const l of active) await state.kms.leaseRevoke({ user: user(), lease_id: l.id });
  // The relay learns it from the KMS itself, at its next token request.
  await relay('/v1/refresh', { user: user() }).catch(() => {});
  facts($('lease'), { 'Revoked': active.length ? active.map((l) => l.id).join(', ') : 'no active lease' });
}

// The relay cannot reach the KMS (it lives in this browser): it posts token
// requests, this page passes each to the KMS (`lease_courier` needs no
// session) and posts the answer back. Both are sealed: the request to the
// lease's courier key, the answer to the relay, so this page (or a script
// injected into it) sees neither the credential nor a token.
async function carryTokenRequests() {
  const { requests } = await relay(`/v1/token-requests?user=${encodeURIComponent(user())}`);
  for (const r of requests) {
    let answer;
    try {
      const { sealed } = await state.kms.leaseCourier({ user: r.user, lease_id: r.lease_id, sealed: r.sealed });
      answer = { id: r.id, user: r.user, sealed };
      state.tokensCarried += 1;
    } catch (e) {
      answer = { id: r.id, user: r.user, error: { code: e.code ?? 'internal', message: e.message, retry_after_ms: e.retryAfterMs } };
    }
    try {
      await relay('/v1/tokens', answer);
    } catch (e) {
      // 409: another tab answered first, or the relay handed the request out
      // again; nothing is lost.
      if (e.status !== 409) throw e;
    }
  }
}

async function showRelay() {
  const s = await relay(`/v1/status?user=${encodeURIComponent(user())}`);
  const now = Date.now() / 1000;
  const lease = {
    none: 'no lease yet',
    active: `active (${s.lease.id})`,
    stopped: `stopped: ${s.lease.reason}`,
  }[s.lease.state];
  facts($('relay-state'), {
    'Lease': lease,
    'Tokens held': s.tokens.length
      ? s.tokens.map((t) => `expires in ${Math.max(0, Math.round(t.exp - now))} s`).join(', ') + ` (key ${short(s.tokens[0].kid)})`
      : 'none',
    'Tokens received': `${s.tokens_received} (sealed answers carried by this page: ${state.tokensCarried})`,
    'Pushes delivered': String(s.pushes_delivered),
  });
  const list = $('relay-events');
  list.replaceChildren(...s.events.slice().reverse().map((e) => {
    const li = document.createElement('li');
    li.append(timeEl(e.at_ms), span('kind ' + e.kind, e.kind), e.text);
    return li;
  }));
}

// ---- step 5: send and receive ----------------------------------------------

async function send() {
  const el = $('send-result');
  const r = await relay('/v1/send', { user: user(), title: 'kms demo', body: $('message').value });
  el.className = r.delivered ? 'state ok' : 'state bad';
  const said = r.push_service_error ? ` ("${r.push_service_error}")` : '';
  el.replaceChildren(
    para(`Push service answered ${r.push_service_status}${said}.`),
    para(`${r.explanation[0].toUpperCase()}${r.explanation.slice(1)}.`),
  );
}

// The local push service queues encrypted messages; a browser would deliver
// them to the service worker. Here the page fetches and decrypts them.
async function pollLocalPushService() {
  if (state.pushPath !== 'local' || !state.localEndpoint) return;
  // A snapshot: the user field may change while this round waits.
  const u = user();
  const { ua, localEndpoint: endpoint } = state;
  const id = endpoint.split('/push/')[1];
  const res = await fetch(`${config.pushService}/messages/${id}?after=${state.lastMessage}`);
  if (!res.ok) return;
  const { messages } = await res.json();
  for (const m of messages) {
    if (user() !== u || state.localEndpoint !== endpoint) return;
    state.lastMessage = Math.max(state.lastMessage, m.n);
    await localPush.save(u, { ua, endpoint, lastMessage: state.lastMessage });
    try {
      const plaintext = await decryptPushMessage(b64urlDecode(m.body), ua);
      receive(JSON.parse(new TextDecoder().decode(plaintext)), 'local push service, decrypted in this page', m.received_ms);
    } catch (e) {
      receive({ title: 'undecryptable message', body: `${e.code ?? e.name}: ${e.message}` }, 'local push service', m.received_ms);
    }
  }
}

function receive(message, via, atMs = Date.now()) {
  const li = document.createElement('li');
  const strong = document.createElement('strong');
  strong.textContent = message.title ?? '(no title)';
  li.append(timeEl(atMs), strong, `${message.body ?? ''} `, span('via', `(${via})`));
  $('inbox').prepend(li);
}

// ---- step 6: rotate --------------------------------------------------------

async function rotate() {
  const r = await state.kms.vapidRotate({ user: user() });
  const el = $('rotation');
  el.className = 'state warn';
  el.replaceChildren(
    para(`Key rotated: version ${r.retired.version} (${short(r.retired.kid)}) is retired, version ${r.current.version} (${short(r.current.kid)}) is current.`),
    para(`The KMS says: ${r.note}.`),
    para(`Subscriptions made with the old key: ${r.affected_subscriptions.length}. Leases bound to it, refused from now on (lease_key_rotated): ${r.affected_leases.length}.`),
    para('Next: the relay\'s next token request is refused and it stops. A new lease alone is not enough: the push ' +
      'service refuses tokens of the new key for the old subscription (403). Subscribe again (step 3) and grant a new lease (step 4).'),
  );
  await relay('/v1/refresh', { user: user() }).catch(() => {});
  await showVapid();
}

// ---- step 7: the audit log -------------------------------------------------

async function exportAudit() {
  const exported = await state.kms.auditExport({ user: user() });
  state.lastExport = exported.export;
  const report = await state.kms.auditVerify({ export: exported.export });
  const link = $('audit-download');
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([exported.export], { type: 'application/jsonl' }));
  link.download = `kms-audit-${user()}.jsonl`;
  link.hidden = false;
  showReport(report, `Exported ${exported.entries} entries`,
    `Verify the download offline: kms audit verify ${link.download}`);
}

// Changes one entry of a copy (its time) and verifies that copy: the chain
// no longer matches.
async function verifyTampered() {
  if (!state.lastExport) throw new Error('export the log first');
  const lines = state.lastExport.split('\n');
  const i = lines.findIndex((l) => l.startsWith('{"type":"entry"'));
  lines[i] = lines[i].replace(/"ts_ms":(\d+)/, (_, n) => `"ts_ms":${Number(n) + 1}`);
  const report = await state.kms.auditVerify({ export: lines.join('\n') });
  showReport(report, `Tampered copy (entry on line ${i + 1}, one millisecond later)`);
}

function showReport(report, title, hint) {
  const el = $('audit');
  if (report.valid) {
    el.className = 'state ok';
    el.replaceChildren(
      para(`${title}: valid. ${report.entries} entries, ${report.checkpoints_verified} signed checkpoints verified, audit key ${short(report.audit_kid)}`),
      ...(hint ? [para(hint)] : []),
    );
  } else {
    const f = report.first_failure;
    el.className = 'state bad';
    el.replaceChildren(para(`${title}: NOT valid. First failure at line ${f.line} (entry ${f.seq ?? '-'}): ${f.reason}${f.detail ? `, ${f.detail}` : ''}.`));
  }
}

// ---- plumbing --------------------------------------------------------------

async function relay(path, body) {
  const res = await fetch(`${config.relay}${path}`, body === undefined ? {} : {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    throw Object.assign(new Error(`the relay answered ${res.status}: ${json.error ?? res.statusText}`), { status: res.status, code: json.code });
  }
  return json;
}

function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(message), { name: 'TimeoutError' })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const clock = (ms) => new Date(ms).toLocaleTimeString();
const short = (kid) => `${kid.slice(0, 10)}…`;

function say(el, kind, text) {
  el.className = `state ${kind}`.trim();
  el.textContent = text;
}

function note(el, text) {
  el.textContent = text;
  el.hidden = false;
}

function para(text) {
  const p = document.createElement('p');
  p.textContent = text;
  return p;
}

function span(cls, text) {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = text;
  return s;
}

function timeEl(ms) {
  const t = document.createElement('time');
  t.dateTime = new Date(ms).toISOString();
  t.textContent = clock(ms);
  return t;
}

function facts(dl, pairs) {
  dl.replaceChildren(...Object.entries(pairs).flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    return [dt, dd];
  }));
}

// A button runs its step with the button disabled; a failure is shown in
// words in the step's own status line (KmsError codes are stable).
function onClick(id, stateId, step) {
  $(id).addEventListener('click', async () => {
    const button = $(id);
    button.disabled = true;
    $('error').textContent = '';
    try {
      if (stateId !== 'session') say($(stateId), '', '');
      await step();
    } catch (e) {
      const text = e.code ? `${e.message} (${e.code})` : e.message;
      say($(stateId), 'bad', `${button.textContent} failed: ${text}`);
    } finally {
      button.disabled = false;
      if (id === 'vapid-generate') showVapid().catch(() => {});
    }
  });
}

// Runs `fn` every `ms`, never two at once; each loop's last error stays in
// the footer until that loop succeeds again.
const loopErrors = new Map();
function every(ms, fn) {
  let busy = false;
  setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      await fn();
      loopErrors.delete(fn);
    } catch (e) {
      loopErrors.set(fn, e.message);
    } finally {
      busy = false;
      $('error').textContent = [...loopErrors.values()].join(' ');
    }
  }, ms);
}

async function main() {
  facts($('origins'), {
    'This app (PWA)': location.origin, 'Key manager': config.kmsOrigin,
    'Relay': config.relay, 'Push service (local)': config.pushService,
  });
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('sw.js').catch((e) => { $('error').textContent = `service worker: ${e.message}`; });
    navigator.serviceWorker.addEventListener('message', (e) => {
      if (e.data?.type === 'push') receive(e.data.message, 'the browser\'s push service, service worker');
    });
  }
  onClick('setup-passphrase', 'session', () => setup('passphrase'));
  onClick('setup-passkey', 'session', () => setup('passkey_prf'));
  onClick('unlock', 'session', unlock);
  onClick('lock', 'session', lock);
  onClick('vapid-generate', 'vapid-result', createVapidKey);
  onClick('subscribe', 'subscribe-result', subscribe);
  onClick('lease-grant', 'lease-result', grantLease);
  onClick('lease-revoke', 'lease-result', revokeLease);
  onClick('send', 'send-result', send);
  onClick('rotate', 'rotation', rotate);
  onClick('audit-export', 'audit', exportAudit);
  onClick('audit-tamper', 'audit', verifyTampered);
  $('user').addEventListener('change', () => Promise.all([showSession(), restoreSubscription()])
    .catch((e) => say($('session'), 'bad', e.message)));

  try {
    await connect();
  } catch (e) {
    return say($('session'), 'bad', `The key manager at ${config.kmsOrigin} could not be reached: ${e.message} (${e.code}).`);
  }
  await showSession();
  await restoreSubscription();
  await connectRelay().catch((e) => { $('error').textContent = e.message; });
  // Two loops, so that one service being down does not stop the other.
  every(1000, pollLocalPushService);
  every(1000, async () => {
    if (!state.relayInfo) await connectRelay();
    await carryTokenRequests();
    await showRelay();
  });
  document.body.dataset.ready = 'true';
}

// The relay's id names the leases granted to it: the lease buttons wait for it.
async function connectRelay() {
  try {
    state.relayInfo = await relay('/v1/info');
  } catch (e) {
    throw new Error(`The relay at ${config.relay} does not answer (${e.message}): is kms-relay running?`);
  } finally {
    $('lease-grant').disabled = !state.relayInfo;
    $('lease-revoke').disabled = !state.relayInfo;
  }
}

main().catch((e) => { $('error').textContent = `The demo could not start: ${e.message}`; });
