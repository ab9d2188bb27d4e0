// Declarations of kms-client.js. The protocol's types (every method's params
// and result, the error codes) are generated from the Rust types into
// kms-rpc.d.ts; this file only maps the client's methods onto them, so a
// change on the Rust side shows up here as a type error, not as drift.

import type { KmsMethods, KmsErrorCode } from './kms-rpc.js';

export type { KmsMethods, KmsErrorCode };

/**
 * Methods a page may call directly. The others carry secrets or start
 * ceremonies (setup, unlock, addEnrollment, changePassphrase, rekey), or last
 * beyond the session and are confirmed by the user in the KMS frame
 * (ConfirmedMethod).
 */
export type DirectMethod = Exclude<keyof KmsMethods,
  'setup' | 'unlock' | 'add_enrollment' | 'change_passphrase' | 'rekey' | 'prf_begin' | 'gate_begin' | ConfirmedMethod>;

/** Methods the user confirms in the KMS frame before they run. */
export type ConfirmedMethod = 'user_delete' | 'lease_create' | 'lease_extend' | 'remove_enrollment' | 'vapid_rotate';

/** A method's params as the page passes them: the KMS frame adds `session`. */
export type Params<M extends keyof KmsMethods> = Omit<KmsMethods[M]['params'], 'session'>;
/** A method's result. */
export type Result<M extends keyof KmsMethods> = KmsMethods[M]['result'];

/**
 * Codes of the client itself, beside the engine's. `incompatible`: the KMS
 * frame speaks another protocol or runs another release line
 * ({@link versionsCompatible}), answered to `connect`. `popup_blocked`:
 * `connect({popup: true})` was not allowed to open the KMS's window (call
 * it from a click).
 */
export type ClientErrorCode = 'timeout' | 'cancelled' | 'disconnected' | 'protocol' | 'incompatible' | 'popup_blocked';

/**
 * Why the KMS frame will not serve this page, answered to `connect` at once:
 * the page's origin is not in its kms-config.json, that file is missing or
 * unusable (the message names the field), the KMS origin is not a secure
 * context, or the browser keeps its storage from it here (`storage_blocked`:
 * the page is of another site and third-party storage is blocked; serve the
 * KMS on the app's own site, or connect with `popup: true`). And, for a UI
 * operation, `unsupported`: it needs a passkey and this browser gives the
 * frame no WebAuthn (or says it has no PRF).
 */
export type FrameErrorCode = 'origin_not_allowed' | 'config_missing' | 'config_invalid' | 'insecure_context' | 'storage_unavailable'
  | 'storage_blocked' | 'unsupported';

export declare class KmsError extends Error {
  readonly name: 'KmsError';
  readonly code: KmsErrorCode | ClientErrorCode | FrameErrorCode;
  /** With `throttled` and `quota_exceeded`: how long to wait. */
  readonly retryAfterMs?: number;
  /** With `integrity`: the first seq of the user's audit log that is not as the engine wrote it. */
  readonly firstBadSeq?: number;
}

export type UnlockMethod = 'passphrase' | 'passkey_prf' | 'passkey_gate';

export interface ConnectOptions {
  /** The KMS origin, e.g. `https://kms.example.com` (an origin, no path). */
  kmsOrigin: string;
  /** Where to put the KMS iframe (default `document.body`). */
  container?: Element;
  /** An iframe of the page's own to use instead of a new one. */
  iframe?: HTMLIFrameElement;
  /** The KMS page's path on the KMS origin (default `/kms.html`). */
  path?: string;
  /** Per-call timeout (default 30 s). */
  timeoutMs?: number;
  /** Timeout of a request the user answers in the frame (default 5 min). */
  uiTimeoutMs?: number;
  /** Timeout of loading and connecting (default 30 s). */
  readyTimeoutMs?: number;
  /**
   * The build id the KMS must run (a release's manifest `build`, or its
   * first 12 or more hex digits); another build is refused with `integrity`.
   */
  expectBuild?: string;
  /**
   * Open the KMS in a window of its own instead of an iframe: where the
   * browser blocks the storage of a KMS frame embedded by another site
   * (`storage_blocked`), a top-level KMS window has its storage. Call
   * `connect` from a click of the user, or the browser blocks the window
   * (`popup_blocked`). `container` and `iframe` are not used then.
   */
  popup?: boolean;
}

/** What a page learns of an opened session: never the token. */
export interface OpenedSession {
  user: string;
  expires_ms: number;
  enrollment: Result<'setup'>['enrollment'];
  rewrapped: boolean;
}

export interface CallOptions { timeoutMs?: number }

export interface FrameStats {
  dropped: number;
  calls: number;
  ui: number;
  worker_dropped: number;
  sessions: number;
}

export declare class Kms {
  private constructor();
  /** This client's version, e.g. `0.1.0`: the release it comes from. */
  static readonly version: string;
  /** The channel protocol this client speaks (the frame must speak the same). */
  static readonly protocol: number;
  /** Embeds the KMS iframe and connects to it over a MessageChannel. */
  static connect(options: ConnectOptions): Promise<Kms>;
  /** The KMS's `info` answer at connection time. */
  readonly info: Result<'info'>;
  /** The build id (64 hex digits) of the bundle the KMS frame runs. */
  readonly build: string;
  /** Messages from the frame that did not fit the protocol. */
  readonly dropped: number;
  /** Called when the KMS frame needs the user (`true`) and when it is done (`false`). */
  onattention: ((needed: boolean) => void) | null;

  /** Any direct method by its wire name. */
  call<M extends DirectMethod>(method: M, params: Params<M>, options?: CallOptions): Promise<Result<M>>;

  setup(params: { user: string; method: UnlockMethod; label?: string }, options?: CallOptions): Promise<OpenedSession>;
  unlock(params: { user: string; method?: UnlockMethod; enrollment_id?: string }, options?: CallOptions): Promise<OpenedSession>;
  addEnrollment(params: { user: string; method: UnlockMethod; label?: string }, options?: CallOptions): Promise<Result<'add_enrollment'>>;
  changePassphrase(params: { user: string; enrollment_id?: string }, options?: CallOptions): Promise<Result<'change_passphrase'>>;
  /**
   * Replaces the user's master secret after a compromise: a passphrase is
   * typed and each passkey presented in the KMS frame. Resolves with the
   * enrollments now and what was removed and re-sealed (no session token:
   * the frame keeps the new session).
   */
  rekey(params: { user: string }, options?: CallOptions): Promise<Omit<Result<'rekey'>, 'session'>>;

  /**
   * Lasting changes, each shown to the user in the KMS frame (with this
   * page's origin) and run only when the user confirms there; otherwise
   * they reject with `cancelled`. The timeout is `uiTimeoutMs`.
   */
  leaseCreate(params: Params<'lease_create'>, options?: CallOptions): Promise<Result<'lease_create'>>;
  leaseExtend(params: Params<'lease_extend'>, options?: CallOptions): Promise<Result<'lease_extend'>>;
  removeEnrollment(params: Params<'remove_enrollment'>, options?: CallOptions): Promise<Result<'remove_enrollment'>>;
  vapidRotate(params: Params<'vapid_rotate'>, options?: CallOptions): Promise<Result<'vapid_rotate'>>;
  /** `confirm` is added by the frame once the user confirms. */
  userDelete(params: Omit<Params<'user_delete'>, 'confirm'>, options?: CallOptions): Promise<Result<'user_delete'>>;

  lock(params: Params<'lock'>): Promise<Result<'lock'>>;
  sessionStatus(params: Params<'session_status'>): Promise<Result<'session_status'>>;
  listEnrollments(params: Params<'list_enrollments'>): Promise<Result<'list_enrollments'>>;
  /** `unknown` (set it up), `set_up` (unlock with one of `methods`; `session`: the frame holds one) or `deleted`. */
  status(params: Params<'status'>): Promise<Result<'status'>>;
  vapidGenerate(params: Params<'vapid_generate'>): Promise<Result<'vapid_generate'>>;
  vapidPublic(params: Params<'vapid_public'>): Promise<Result<'vapid_public'>>;
  signJwt(params: Params<'sign_jwt'>): Promise<Result<'sign_jwt'>>;
  auditExport(params: Params<'audit_export'>): Promise<Result<'audit_export'>>;
  auditVerify(params: Params<'audit_verify'>): Promise<Result<'audit_verify'>>;
  subscriptionAdd(params: Params<'subscription_add'>): Promise<Result<'subscription_add'>>;
  subscriptionList(params: Params<'subscription_list'>): Promise<Result<'subscription_list'>>;
  subscriptionRemove(params: Params<'subscription_remove'>): Promise<Result<'subscription_remove'>>;
  leaseList(params: Params<'lease_list'>): Promise<Result<'lease_list'>>;
  leaseRevoke(params: Params<'lease_revoke'>): Promise<Result<'lease_revoke'>>;
  leaseIssue(params: Params<'lease_issue'>): Promise<Result<'lease_issue'>>;
  /** A relay's token request, sealed to the lease's courier key; the answer is sealed to the relay. */
  leaseCourier(params: Params<'lease_courier'>): Promise<Result<'lease_courier'>>;

  /** The current VAPID public key as `applicationServerKey` bytes (65). */
  applicationServerKey(params: { user: string }): Promise<Uint8Array>;
  /** The frame's counters. */
  stats(): Promise<FrameStats>;
  /** Rejects pending calls, closes the channel, removes the frame it made. */
  close(): void;
}

/**
 * Whether a client of version `client` may use a KMS of version `kms`: the
 * same major version, or before 1.0 the same minor.
 */
export declare function versionsCompatible(client: string, kms: string): boolean;
export declare function base64UrlDecode(text: string): Uint8Array;
export declare function base64UrlEncode(bytes: ArrayBuffer | Uint8Array): string;
