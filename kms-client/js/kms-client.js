// The KMS client for web pages: a plain ES module, no bundler, no
// dependencies.
//
//   import { Kms } from './kms-client.js';
//   const kms = await Kms.connect({ kmsOrigin: 'https://kms.example.com' });
//   await kms.setup({ user: 'alice', method: 'passphrase' }); // typed in the KMS frame
//   const key = await kms.vapidGenerate({ user: 'alice' });
//   const sub = await registration.pushManager.subscribe({
//     userVisibleOnly: true, applicationServerKey: key.public_key });
//
// It embeds the KMS iframe (the KMS origin's /kms.html), hands it one end of
// a MessageChannel after the iframe has loaded, and then talks only over
// that port. Secrets are never seen here: passphrases are typed into, and
// passkey ceremonies run in, the iframe; sessions stay in the iframe, which
// adds them to the calls that need one. Every method returns a promise that
// rejects with a KmsError whose `code` is the engine's stable error code
// (docs/rpc.md section 3), or one of the client's own: `timeout`,
// `cancelled`, `disconnected`, `protocol`; `connect` also rejects with the
// KMS frame's reason for not serving the page: `origin_not_allowed`,
// `config_missing`, `config_invalid`, `insecure_context`,
// `storage_blocked`, `storage_unavailable`, `incompatible` (docs/browser.md
// section 2.1); a UI operation that needs what this browser lacks (a
// passkey without WebAuthn) rejects with `unsupported`.
//
// Types: kms-client.d.ts (the class) and kms-rpc.d.ts (generated from the
// Rust types). This file type-checks against them itself (`tsc --checkJs
// --strict`, in the test command), through the JSDoc below.
//
// Versions (docs/versioning.md): `connect` refuses, with `incompatible`, a
// KMS frame that speaks another channel or RPC protocol or runs a version
// of another release line (another major version; before 1.0, another
// minor).

/** @import { ConnectOptions, CallOptions, OpenedSession, FrameStats, DirectMethod, Params, Result, UnlockMethod } from './kms-client.js' */

/** The client's release: the version of the crates and the packages it ships with. */
const VERSION = '0.1.0';
/** The channel's protocol (docs/browser.md section 2): frame and client must speak the same. */
const PROTOCOL = 1;
/** The RPC protocol (docs/rpc.md) whose params and results this client passes: the engine's `info.protocol_version`. */
const RPC_PROTOCOL = 1;
// Only Kms.connect constructs a Kms.
const CONNECT = Symbol('Kms.connect');

/** An error from the KMS, with its stable code. */
export class KmsError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {number} [retryAfterMs]
   * @param {number} [firstBadSeq]
   */
  constructor(code, message, retryAfterMs, firstBadSeq) {
    super(message);
    this.name = 'KmsError';
    this.code = code;
    // Own properties only when given (a plain error has neither).
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
    if (firstBadSeq !== undefined) this.firstBadSeq = firstBadSeq;
  }
}

const DEFAULTS = {
  path: '/kms.html',
  timeoutMs: 30_000,
  uiTimeoutMs: 300_000,
  readyTimeoutMs: 30_000,
};
/** @typedef {ConnectOptions & typeof DEFAULTS} Options */
// The engine's request caps (docs/rpc.md section 2), checked before sending.
const MAX_PARAMS_CHARS = 64 * 1024;
const MAX_VERIFY_CHARS = 11 * 1024 * 1024;

/**
 * Whether a client of version `client` may use a KMS of version `kms`: the
 * same release line, i.e. the same major version, or before 1.0 the same
 * minor (`0.1.x` with `0.1.y`): semver's caret rule, except that `0.0.x`
 * versions form one line too. Within a line,
 * changes are additive (docs/versioning.md). Pre-release and build suffixes
 * are ignored.
 * @param {string} client
 * @param {string} kms
 * @returns {boolean}
 */
export function versionsCompatible(client, kms) {
  /** @param {string} v */
  const line = (v) => {
    const m = /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(v);
    if (!m) return null;
    return m[1] === '0' ? `0.${m[2]}` : m[1];
  };
  const a = line(client);
  return a !== null && a === line(kms);
}

/**
 * @param {string} value
 * @returns {string}
 */
function exactOrigin(value) {
  let url;
  try { url = new URL(value); } catch { throw new KmsError('invalid_input', `kmsOrigin: not a URL: ${value}`); }
  if (url.origin === 'null' || url.origin !== value.replace(/\/$/, '')) {
    throw new KmsError('invalid_input', `kmsOrigin must be an origin like https://kms.example.com, not ${value}`);
  }
  return url.origin;
}

/**
 * @typedef {object} Pending
 * @property {(value: any) => void} resolve
 * @property {(error: KmsError) => void} reject
 * @property {ReturnType<typeof setTimeout>} timer
 */

export class Kms {
  /** This client's version (the release it comes from). */
  static version = VERSION;
  /** The channel protocol this client speaks. */
  static protocol = PROTOCOL;

  /** @type {MessagePort | undefined} */
  #port;
  /** @type {HTMLIFrameElement | null} */
  #iframe;
  /**
   * The KMS's own window, when it was opened as one (`popup`), else null.
   * @type {Window | null}
   */
  #popup = null;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #popupWatch;
  /**
   * Rejects the connection under way (the window closed before it was made).
   * @type {((error: KmsError) => void) | null}
   */
  #abortConnect = null;
  /** @type {Options} */
  #options;
  #nextId = 1;
  /** @type {Map<number, Pending>} */
  #pending = new Map();
  #closed = false;
  /**
   * Public facts about the KMS (its `info` answer at connection time).
   * @type {Result<'info'>}
   */
  info = /** @type {any} */ (undefined); // set by the handshake, before `connect` resolves
  /**
   * The build the KMS frame runs: the SHA-256 build id (64 hex digits) of its bundle's manifest.
   * @type {string}
   */
  build = /** @type {any} */ (undefined); // set by the handshake, before `connect` resolves
  /** Messages from the frame that did not fit the protocol, dropped. */
  dropped = 0;
  /**
   * Called with `true` when the KMS frame needs the user (a passphrase, a passkey), `false` after.
   * @type {((needed: boolean) => void) | null}
   */
  onattention = null;

  /**
   * @param {symbol} token
   * @param {HTMLIFrameElement | null} iframe
   * @param {Options} options
   */
  constructor(token, iframe, options) {
    if (token !== CONNECT) throw new TypeError('use `await Kms.connect({ kmsOrigin })`');
    this.#iframe = iframe;
    this.#options = options;
  }

  /**
   * Embeds the KMS iframe and connects to it.
   * `expectBuild` (the build id of a release, or its first 12 or more hex
   * digits) refuses a KMS that reports another build, with `integrity`.
   * @param {ConnectOptions} options
   * @returns {Promise<Kms>}
   */
  static async connect(options) {
    if (!options || typeof options.kmsOrigin !== 'string') throw new KmsError('invalid_input', 'connect: kmsOrigin is required');
    const kmsOrigin = exactOrigin(options.kmsOrigin);
    if (options.expectBuild !== undefined && (typeof options.expectBuild !== 'string' || !/^[0-9a-f]{12,64}$/.test(options.expectBuild))) {
      throw new KmsError('invalid_input', 'connect: expectBuild is a build id (12 to 64 lowercase hex digits)');
    }
    // An option given as `undefined` is not given: it keeps its default
    // (a timeout of `undefined` would fire at once).
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    /** @type {Options} */
    const opts = { ...DEFAULTS, ...given, kmsOrigin };
    if (opts.popup === true) return Kms.#connectPopup(opts);
    const iframe = opts.iframe ?? document.createElement('iframe');
    // WebAuthn inside a cross-origin iframe needs the permissions delegated;
    // set before `src`, which starts the navigation that reads them.
    iframe.allow = `publickey-credentials-get ${kmsOrigin}; publickey-credentials-create ${kmsOrigin}`;
    iframe.referrerPolicy = 'no-referrer';
    if (!iframe.title) iframe.title = 'Key manager';
    iframe.src = new URL(opts.path, kmsOrigin).href;
    const loaded = new Promise((resolve) => iframe.addEventListener('load', resolve, { once: true }));
    if (!iframe.isConnected) (opts.container ?? document.body).appendChild(iframe);
    const kms = new Kms(CONNECT, iframe, opts);
    try {
      await withTimeout(loaded, opts.readyTimeoutMs, 'the KMS frame did not load');
    } catch (e) {
      kms.close();
      throw e;
    }
    return kms.#handshake();
  }

  /**
   * Opens the KMS page as a window of its own (a popup: call `connect` from
   * a click, or the browser blocks it) and connects to it. A top-level page
   * of the KMS origin has that origin's own storage, also where the browser
   * blocks or partitions the storage of a KMS frame embedded by another
   * site. The KMS page says when it runs (`kms:hello` to its opener); the
   * connection is then the frame's, over the same protocol.
   * @param {Options} opts
   * @returns {Promise<Kms>}
   */
  static async #connectPopup(opts) {
    // A framed page cannot open one: the KMS serves an opener at the top only.
    if (window.top !== window) throw new KmsError('invalid_input', 'connect({popup: true}) works in a top-level page only');
    const url = new URL(opts.path, opts.kmsOrigin).href;
    const popup = window.open(url, '_blank', 'popup,width=480,height=640');
    if (!popup) {
      throw new KmsError('popup_blocked', 'the browser did not open the key manager\'s window: call connect({popup: true}) from a click of the user');
    }
    const kms = new Kms(CONNECT, null, opts);
    kms.#popup = popup;
    // Closed by the user (or cut off at once by this page's
    // Cross-Origin-Opener-Policy): the connection under way and every
    // pending call hear `disconnected`.
    kms.#popupWatch = setInterval(() => {
      if (!popup.closed) return;
      kms.#abortConnect?.(new KmsError('disconnected', 'the key manager\'s window was closed (or this page\'s Cross-Origin-Opener-Policy cut it off)'));
      kms.close();
    }, 250);
    // This page going away ends the connection, and the window with it.
    window.addEventListener('pagehide', () => kms.close(), { once: true });
    /** @type {(event: MessageEvent) => void} */
    let onHello = () => {};
    /** @type {Promise<void>} */
    const hello = new Promise((resolve, reject) => {
      kms.#abortConnect = reject;
      onHello = (event) => {
        if (event.source !== popup || event.origin !== opts.kmsOrigin) return;
        const d = event.data;
        if (d && d.t === 'kms:hello') resolve();
      };
      window.addEventListener('message', onHello);
    });
    try {
      await withTimeout(hello, opts.readyTimeoutMs, 'the key manager\'s window did not start');
    } catch (e) {
      kms.close();
      throw e;
    } finally {
      window.removeEventListener('message', onHello);
    }
    return kms.#handshake();
  }

  /** @returns {Promise<Kms>} */
  async #handshake() {
    const channel = new MessageChannel();
    const port = channel.port1;
    this.#port = port;
    /** @type {Promise<Kms>} */
    const ready = new Promise((resolve, reject) => {
      this.#abortConnect = reject;
      port.onmessage = (event) => {
        const m = event.data;
        if (m && m.t === 'ready' && m.info) {
          const refusal = this.#refuse(m);
          if (refusal) { reject(refusal); return; }
          this.info = m.info;
          this.build = m.build;
          port.onmessage = (e) => this.#onMessage(e.data);
          resolve(this);
        } else if (m && m.t === 'fatal' && m.error) {
          reject(new KmsError(String(m.error.code), String(m.error.message)));
        } else {
          this.dropped += 1;
        }
      };
    });
    // The target origin is exact: the port is handed to the KMS origin only,
    // whatever the frame (or window) has navigated to.
    const frame = this.#popup ?? this.#iframe?.contentWindow;
    if (!frame || frame.closed) {
      this.close();
      throw new KmsError('disconnected', 'the KMS frame was removed before it connected');
    }
    frame.postMessage({ t: 'kms:connect', v: PROTOCOL }, this.#options.kmsOrigin, [channel.port2]);
    try {
      return await withTimeout(ready, this.#options.readyTimeoutMs, 'the KMS did not answer the connection (is this origin on its allowlist?)');
    } catch (e) {
      this.close();
      throw e;
    } finally {
      this.#abortConnect = null;
    }
  }

  /**
   * Why a `ready` answer is not one this client may use, or null.
   * @param {any} m
   * @returns {KmsError | null}
   */
  #refuse(m) {
    const kmsVersion = m.info.kms_version;
    if (m.v !== PROTOCOL || m.info.protocol_version !== RPC_PROTOCOL || typeof kmsVersion !== 'string'
      || !versionsCompatible(VERSION, kmsVersion)) {
      return new KmsError('incompatible',
        `the KMS runs version ${String(kmsVersion)} (protocol ${String(m.v)}, RPC ${String(m.info.protocol_version)}); `
        + `this client is ${VERSION} (protocol ${PROTOCOL}, RPC ${RPC_PROTOCOL}): use a client of the KMS's release line`);
    }
    const expected = this.#options.expectBuild;
    if (expected !== undefined && !(typeof m.build === 'string' && m.build.startsWith(expected))) {
      return new KmsError('integrity', `the KMS runs build ${String(m.build).slice(0, 12)}, not the expected ${expected.slice(0, 12)}`);
    }
    return null;
  }

  /** @param {any} m */
  #onMessage(m) {
    const p = m && m.t === 'result' ? this.#pending.get(m.id) : undefined;
    if (p) {
      this.#pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok === true) p.resolve(m.result);
      else if (m.ok === false && m.error) p.reject(new KmsError(String(m.error.code), String(m.error.message), m.error.retry_after_ms, m.error.first_bad_seq));
      else p.reject(new KmsError('protocol', 'malformed answer from the KMS'));
    } else if (m && m.t === 'attention' && typeof m.needed === 'boolean') {
      // The KMS's own window comes to the front when it needs the user.
      if (m.needed) this.#popup?.focus();
      if (typeof this.onattention === 'function') this.onattention(m.needed);
    } else {
      this.dropped += 1;
    }
  }

  /**
   * @param {{t: string} & Record<string, unknown>} message
   * @param {number} timeoutMs
   * @returns {Promise<any>}
   */
  #send(message, timeoutMs) {
    const port = this.#port;
    if (this.#closed || !port) return Promise.reject(new KmsError('disconnected', 'this KMS connection is closed'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        if (message.t === 'ui') port.postMessage({ t: 'cancel', id });
        reject(new KmsError('timeout', `no answer from the KMS in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      port.postMessage({ ...message, id });
    });
  }

  /**
   * Calls an RPC method directly (docs/rpc.md). `params` never carries a
   * session: name the `user` and the KMS frame adds that user's session.
   * @template {DirectMethod} M
   * @param {M} method
   * @param {Params<M>} [params]
   * @param {CallOptions} [options]
   * @returns {Promise<Result<M>>}
   */
  call(method, params, { timeoutMs } = {}) {
    const sent = params ?? {};
    let size;
    try { size = JSON.stringify(sent).length; } catch { return Promise.reject(new KmsError('invalid_input', 'params must be JSON')); }
    const cap = method === 'audit_verify' ? MAX_VERIFY_CHARS : MAX_PARAMS_CHARS;
    if (size > cap) return Promise.reject(new KmsError('invalid_input', `params larger than ${cap} characters`));
    return this.#send({ t: 'call', method, params: sent }, timeoutMs ?? this.#options.timeoutMs);
  }

  /**
   * @param {string} op
   * @param {object} params
   * @param {number | undefined} timeoutMs
   * @returns {Promise<any>}
   */
  #ui(op, params, timeoutMs) {
    return this.#send({ t: 'ui', op, params }, timeoutMs ?? this.#options.uiTimeoutMs);
  }

  // ---- set-up and unlock: the user answers in the KMS frame ----

  /**
   * Creates the user; the passphrase is typed, or the passkey created, in the KMS frame.
   * @param {{user: string, method: UnlockMethod, label?: string}} params
   * @param {CallOptions} [opts]
   * @returns {Promise<OpenedSession>}
   */
  setup({ user, method, label }, opts = {}) { return this.#ui('setup', { user, method, label }, opts.timeoutMs); }
  /**
   * Opens a session: passphrase or passkey, in the KMS frame. `method` limits the choice.
   * @param {{user: string, method?: UnlockMethod, enrollment_id?: string}} params
   * @param {CallOptions} [opts]
   * @returns {Promise<OpenedSession>}
   */
  unlock({ user, method, enrollment_id }, opts = {}) { return this.#ui('unlock', { user, method, enrollment_id }, opts.timeoutMs); }
  /**
   * Adds a passphrase or passkey to an unlocked user.
   * @param {{user: string, method: UnlockMethod, label?: string}} params
   * @param {CallOptions} [opts]
   * @returns {Promise<Result<'add_enrollment'>>}
   */
  addEnrollment({ user, method, label }, opts = {}) { return this.#ui('add_enrollment', { user, method, label }, opts.timeoutMs); }
  /**
   * Changes a passphrase of an unlocked user (typed in the KMS frame).
   * @param {{user: string, enrollment_id?: string}} params
   * @param {CallOptions} [opts]
   * @returns {Promise<Result<'change_passphrase'>>}
   */
  changePassphrase({ user, enrollment_id }, opts = {}) { return this.#ui('change_passphrase', { user, enrollment_id }, opts.timeoutMs); }
  /**
   * Replaces the user's master secret after a compromise (the frame says
   * what it does; the user types a passphrase and presents each passkey
   * there). The session goes on under the new secret; other tabs' end.
   * @param {{user: string}} params
   * @param {CallOptions} [opts]
   * @returns {Promise<Omit<Result<'rekey'>, 'session'>>}
   */
  rekey({ user }, opts = {}) { return this.#ui('rekey', { user }, opts.timeoutMs); }

  // ---- lasting changes: the user confirms each in the KMS frame ----
  // The frame shows what will happen (with this page's origin) and runs the
  // request only when the user confirms there; a refusal there rejects with
  // `cancelled`. Params as in docs/rpc.md, without `session` (and without
  // user_delete's `confirm`, which the frame adds once the user confirms).

  /**
   * Grants a relay a lease (its terms are shown to the user).
   * @param {Params<'lease_create'>} params
   * @param {CallOptions} [opts]
   * @returns {Promise<Result<'lease_create'>>}
   */
  leaseCreate(params, opts = {}) { return this.#ui('lease_create', params, opts.timeoutMs); }
  /**
   * Moves a lease's end later.
   * @param {Params<'lease_extend'>} params
   * @param {CallOptions} [opts]
   * @returns {Promise<Result<'lease_extend'>>}
   */
  leaseExtend(params, opts = {}) { return this.#ui('lease_extend', params, opts.timeoutMs); }
  /**
   * Removes an enrollment (a passphrase or passkey).
   * @param {Params<'remove_enrollment'>} params
   * @param {CallOptions} [opts]
   * @returns {Promise<Result<'remove_enrollment'>>}
   */
  removeEnrollment(params, opts = {}) { return this.#ui('remove_enrollment', params, opts.timeoutMs); }
  /**
   * Replaces the current VAPID key (subscriptions and leases of the old one stop working).
   * @param {Params<'vapid_rotate'>} params
   * @param {CallOptions} [opts]
   * @returns {Promise<Result<'vapid_rotate'>>}
   */
  vapidRotate(params, opts = {}) { return this.#ui('vapid_rotate', params, opts.timeoutMs); }
  /**
   * Deletes the user for good; resolves with the final audit export.
   * @param {Omit<Params<'user_delete'>, 'confirm'>} params
   * @param {CallOptions} [opts]
   * @returns {Promise<Result<'user_delete'>>}
   */
  userDelete(params, opts = {}) { return this.#ui('user_delete', params, opts.timeoutMs); }

  // ---- the RPC methods (params as in docs/rpc.md, without `session`) ----

  /** @param {Params<'lock'>} params */
  lock(params) { return this.call('lock', params); }
  /** @param {Params<'session_status'>} params */
  sessionStatus(params) { return this.call('session_status', params); }
  /** @param {Params<'list_enrollments'>} params */
  listEnrollments(params) { return this.call('list_enrollments', params); }
  /**
   * Whether `user` exists, how it unlocks, and whether the frame holds its session: setup or unlock?
   * @param {Params<'status'>} params
   */
  status(params) { return this.call('status', params); }
  /** @param {Params<'vapid_generate'>} params */
  vapidGenerate(params) { return this.call('vapid_generate', params); }
  /** @param {Params<'vapid_public'>} params */
  vapidPublic(params) { return this.call('vapid_public', params); }
  /** @param {Params<'sign_jwt'>} params */
  signJwt(params) { return this.call('sign_jwt', params); }
  /** @param {Params<'audit_export'>} params */
  auditExport(params) { return this.call('audit_export', params); }
  /** @param {Params<'audit_verify'>} params */
  auditVerify(params) { return this.call('audit_verify', params); }
  /** @param {Params<'subscription_add'>} params */
  subscriptionAdd(params) { return this.call('subscription_add', params); }
  /** @param {Params<'subscription_list'>} params */
  subscriptionList(params) { return this.call('subscription_list', params); }
  /** @param {Params<'subscription_remove'>} params */
  subscriptionRemove(params) { return this.call('subscription_remove', params); }
  /** @param {Params<'lease_list'>} params */
  leaseList(params) { return this.call('lease_list', params); }
  /** @param {Params<'lease_revoke'>} params */
  leaseRevoke(params) { return this.call('lease_revoke', params); }
  /** @param {Params<'lease_issue'>} params */
  leaseIssue(params) { return this.call('lease_issue', params); }
  /** @param {Params<'lease_courier'>} params */
  leaseCourier(params) { return this.call('lease_courier', params); }

  /**
   * The user's current VAPID public key as the bytes
   * `pushManager.subscribe({applicationServerKey})` takes.
   * @param {{user: string}} params
   * @returns {Promise<Uint8Array>}
   */
  async applicationServerKey({ user }) {
    const { current } = await this.vapidPublic({ user });
    if (!current) throw new KmsError('not_found', `${user} has no VAPID key yet: call vapidGenerate`);
    return base64UrlDecode(current.public_key);
  }

  /**
   * The frame's counters: messages dropped, calls, open sessions.
   * @returns {Promise<FrameStats>}
   */
  stats() { return this.#send({ t: 'stats' }, this.#options.timeoutMs); }

  /** Cancels pending calls, closes the port and removes the frame. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new KmsError('disconnected', 'the KMS connection was closed'));
    }
    this.#pending.clear();
    this.#port?.close();
    clearInterval(this.#popupWatch);
    if (this.#popup && !this.#popup.closed) this.#popup.close();
    if (this.#iframe && !this.#options.iframe) this.#iframe.remove();
  }
}

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {string} message
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms, message) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  /** @type {Promise<never>} */
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new KmsError('timeout', message)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * base64url (RFC 4648 section 5, no padding) to bytes.
 * @param {string} text
 * @returns {Uint8Array}
 */
export function base64UrlDecode(text) {
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/**
 * Bytes to base64url without padding.
 * @param {ArrayBuffer | Uint8Array} bytes
 * @returns {string}
 */
export function base64UrlEncode(bytes) {
  const b = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
