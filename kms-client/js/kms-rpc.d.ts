// GENERATED FILE: do not edit by hand.
//
// TypeScript declarations of the KMS RPC protocol (docs/rpc.md), generated
// from the Rust types of kms-core by kms-client/tests/ts_types.rs (ts-rs).
// That test fails when this file is out of date; regenerate it with
//
//     KMS_REGENERATE_TS=1 cargo test -p kms-client --test ts_types
//
// Import with `import type` (or JSDoc `import("./kms-rpc")`): types only.
//
// Conventions:
// - 64-bit integers (times in ms, `exp` in s, counts) are `number`: JSON
//   numbers arrive as JS numbers, and every such value is below 2^53.
// - `member?: T` may be left out; in params, `member?: T | null` may be left
//   out or null. Results send `T | null` members as null, never leave them out.
// - Tagged unions (`kind`, `method`) are discriminated on that member.
// - Ids, tokens, secrets and origins are strings (checked by the KMS).

/**
 * `add_enrollment` parameters.
 */
export type AddEnrollmentParams = {
  user: UserId,
  session: SessionToken,
  enrollment: NewEnrollment,
  label?: string | null,
};

/**
 * `audit_export` parameters: the session, and optionally a nonce of the
 * verifier's choosing that the export's final checkpoint signs.
 */
export type AuditExportParams = {
  user: UserId,
  session: SessionToken,
  /**
   * A fresh value the verifier chose (1 to 64 characters of
   * `[A-Za-z0-9_-]`): the final checkpoint signs it, so the verifier
   * knows this export was made for its request
   * (`audit_verify`'s `expected_nonce`).
   */
  nonce?: string | null,
};

/**
 * `audit_export` result.
 */
export type AuditExportResult = {
  /**
   * The export (JSON Lines, `docs/audit-format.md`).
   */
  export: string,
  entries: number,
  /**
   * The fresh checkpoint the export ends with: keep it to detect a later
   * rollback.
   */
  checkpoint: Checkpoint,
};

/**
 * Which chain an entry belongs to: one per user, and one for the instance.
 *
 * Serialized as `"user:<id>"` or `"instance"`. A user id never contains `:`
 * or a newline (`UserId::parse`), so the text form is unambiguous and safe
 * inside the newline-separated checkpoint text.
 */
export type AuditScope = `user:${string}` | "instance";

/**
 * `audit_verify` parameters.
 */
export type AuditVerifyParams = {
  /**
   * The export, as written by `audit_export` (JSON Lines).
   */
  export: string,
  /**
   * The audit public key the verifier expects (JWK JSON or base64url
   * SEC1); without it, the key in the export's header is trusted.
   */
  expected_public_key?: string | null,
  /**
   * Checkpoints the verifier saw before: a rollback or a fork against any
   * of them is detected. At most 1,024 (`MAX_EXPECTED_CHECKPOINTS`): a
   * longer list does not decode (`invalid_input` naming the cap), so the
   * engine never runs for it; the elements past the cap are not even read.
   */
  expected_checkpoints?: Array<Checkpoint>,
  /**
   * The nonce the export was asked for: its final checkpoint must sign
   * it (`nonce_mismatch` otherwise).
   */
  expected_nonce?: string | null,
};

/**
 * The W3C WebAuthn `AuthenticationResponseJSON`: what
 * `PublicKeyCredential.toJSON()` returns for an assertion, as gate-mode
 * `unlock` takes it. Binary members are unpadded base64url; members not
 * listed here are ignored.
 */
export type AuthenticationResponseJSON = {
  /**
   * The credential id (base64url).
   */
  id: string,
  /**
   * The credential id (base64url); must equal `id`.
   */
  rawId: string,
  response: AuthenticatorAssertionResponseJSON,
  /**
   * Ignored by the KMS.
   */
  authenticatorAttachment?: string | null,
  /**
   * Extension outputs; the KMS reads none of them.
   */
  clientExtensionResults?: Record<string, unknown>,
  /**
   * `"public-key"`.
   */
  type: string,
};

/**
 * The W3C WebAuthn `AuthenticatorAssertionResponseJSON` (base64url members).
 */
export type AuthenticatorAssertionResponseJSON = {
  clientDataJSON: string,
  authenticatorData: string,
  signature: string,
  userHandle?: string | null,
};

/**
 * A pending WebAuthn ceremony (a gate challenge or a PRF salt offer).
 */
export type CeremonyId = string;

/**
 * `change_passphrase` parameters.
 */
export type ChangePassphraseParams = {
  user: UserId,
  session: SessionToken,
  /**
   * Optional when the user has exactly one passphrase enrollment.
   */
  enrollment_id?: EnrollmentId | null,
  new_passphrase: Passphrase,
};

/**
 * A signed checkpoint, as stored, exported, and held by a verifier.
 *
 * Deserializing refuses unknown fields and checks the form of `head` (32
 * bytes) and `sig` (64 bytes); the signature itself is checked by
 * `Checkpoint::verify`.
 */
export type Checkpoint = {
  scope: AuditScope,
  /**
   * Entries covered: the last covered `seq` + 1.
   */
  size: number,
  /**
   * Unpadded base64url SHA-256 of entry `size - 1` (the genesis hash for
   * `size` 0).
   */
  head: string,
  /**
   * When it was signed, milliseconds since the Unix epoch.
   */
  ts_ms: number,
  /**
   * The verifier's nonce this checkpoint signs (see the module docs);
   * absent from every checkpoint but the final one of an export asked
   * for with a nonce.
   */
  nonce?: string,
  /**
   * RFC 7638 thumbprint of the audit public key that signed it.
   */
  kid: KeyId,
  /**
   * Unpadded base64url of the raw ES256 signature `r || s` over
   * `Checkpoint::signed_text`.
   */
  sig: string,
};

/**
 * No parameters.
 */
export type Empty = Record<string, never>;

/**
 * One enrollment (passphrase or passkey) of a user. Random, 128 bits.
 */
export type EnrollmentId = string;

/**
 * What the outside may know about an enrollment (no key material).
 */
export type EnrollmentInfo = {
  id: EnrollmentId,
  method: EnrollmentMethod,
  label: string | null,
  created_ms: number,
  updated_ms: number,
  /**
   * Whether this enrollment protects the master secret at rest. False for
   * a gate-mode passkey: whoever copies the store can unwrap the master
   * secret; the passkey only gates the running KMS's API.
   */
  protects_at_rest: boolean,
  /**
   * Passphrase: the PBKDF2 iteration count.
   */
  iterations?: number,
  /**
   * Passkeys: the credential id (base64url), for `allowCredentials`.
   */
  credential_id?: string,
  /**
   * Passkey PRF: the salt to pass as `prf.eval.first` (base64url).
   */
  prf_salt?: string,
  /**
   * Passkey gate: the WebAuthn relying party id.
   */
  rp_id?: string,
};

/**
 * `list_enrollments` result.
 */
export type EnrollmentList = {
  enrollments: Array<EnrollmentInfo>,
  /**
   * Enrollments whose stored record is damaged (does not parse): they
   * cannot unlock; remove them with `remove_enrollment`.
   */
  damaged?: Array<EnrollmentId>,
};

/**
 * An unlock method.
 */
export type EnrollmentMethod = "passphrase" | "passkey_prf" | "passkey_gate";

/**
 * The first thing that did not verify.
 */
export type Failure = {
  /**
   * The sequence number the failure is about, when there is one:
   * - entry checks: the position in the chain where it broke (for
   *   `entry_inserted`, the sequence number that appears twice or the
   *   entry the chain skips over);
   * - `checkpoint_beyond_entries`, `missing_final_checkpoint`, `rollback`:
   *   the first sequence number missing or not covered by a signature;
   * - `checkpoint_head_mismatch`, `fork`: the last sequence number the
   *   checkpoint covers (`size - 1`);
   * - otherwise (format, key and signature failures) none.
   */
  seq: number | null,
  /**
   * The 1-based line of the export, when the failure is on a line (not
   * for a checkpoint the verifier supplied).
   */
  line: number | null,
  reason: FailureReason,
  /**
   * A sentence for people. Not stable; switch on `reason`.
   */
  detail: string,
};

/**
 * A stable, machine-readable reason for a failed verification. These
 * strings are part of the verify RPC and the CLI's `--json` output: never
 * rename one, only add.
 */
export type FailureReason = "too_large" | "line_too_long" | "truncated" | "malformed_line" | "missing_header" | "duplicate_header" | "unknown_line_type" | "unsupported_version" | "invalid_field" | "non_canonical" | "misplaced_line" | "too_many_entries" | "too_many_checkpoints" | "kid_mismatch" | "audit_key_mismatch" | "scope_mismatch" | "bad_genesis" | "seq_not_contiguous" | "entry_missing" | "entry_out_of_order" | "entry_inserted" | "link_mismatch" | "mac_mismatch" | "nonce_mismatch" | "checkpoint_key_mismatch" | "bad_checkpoint_signature" | "checkpoint_beyond_entries" | "checkpoint_head_mismatch" | "missing_final_checkpoint" | "count_mismatch" | "export_time_mismatch" | "rollback" | "fork" | "internal";

/**
 * `gate_begin` parameters.
 */
export type GateBeginParams = {
  user: UserId,
  /**
   * Optional when the user has exactly one gate enrollment.
   */
  enrollment_id?: EnrollmentId | null,
};

/**
 * `gate_begin` result: what `navigator.credentials.get` needs.
 */
export type GateBeginResult = {
  ceremony_id: CeremonyId,
  enrollment_id: EnrollmentId,
  /**
   * base64url challenge.
   */
  challenge: string,
  rp_id: string,
  /**
   * base64url credential id for `allowCredentials`.
   */
  credential_id: string,
  expires_ms: number,
};

/**
 * `info` result.
 */
export type InfoResult = {
  protocol_version: number,
  kms_version: string,
  pbkdf2_iterations: number,
  min_passphrase_chars: number,
  session_ttl_ms: number,
  rp_id: string,
  methods: Array<string>,
  /**
   * In the browser, the build the KMS frame runs: the build id (SHA-256,
   * 64 hex digits) of its bundle's `manifest.json`, added by the frame
   * from the page it checked its code against. Absent natively.
   */
  build?: string,
};

/**
 * What a lease holder asks for (the credential travels beside it).
 */
export type IssueRequest = {
  /**
   * The push service's origin: one of the lease's audiences.
   */
  aud: string,
  /**
   * The operator's contact, `mailto:` or `https:` (RFC 8292 section 2.1).
   */
  sub: string,
  /**
   * How many tokens, 1 to the lease's `max_batch`. Default 1.
   */
  count?: number,
  /**
   * The wanted lifetime of the longest-lived token, in seconds: more than
   * `MIN_TOKEN_LIFETIME_S`; default `DEFAULT_TOKEN_TTL_S`. Longer than
   * 24 h or than the lease has left is served at that limit.
   */
  ttl_s?: number | null,
};

/**
 * A P-256 public key as a JSON Web Key (RFC 7518 section 6.2.1). Plain data:
 * turn it into a key with `VapidPublicKey::from_jwk`, which checks it.
 */
export type Jwk = {
  /**
   * `"EC"` (checked by `VapidPublicKey::from_jwk`).
   */
  kty: string,
  /**
   * `"P-256"` (checked by `VapidPublicKey::from_jwk`).
   */
  crv: string,
  /**
   * The x coordinate, 32 bytes, unpadded base64url.
   */
  x: string,
  /**
   * The y coordinate, 32 bytes, unpadded base64url.
   */
  y: string,
};

/**
 * What a caller asks to have signed. Nothing here is trusted: turn it into
 * `ValidatedClaims` with `validate`.
 */
export type JwtRequest = {
  /**
   * The push service's origin, e.g. `https://fcm.googleapis.com`.
   */
  aud: string,
  /**
   * The operator's contact: `mailto:` or `https:`.
   */
  sub: string,
  /**
   * Expiry, seconds since the Unix epoch.
   */
  exp: number,
  /**
   * An optional token id.
   */
  jti?: string | null,
};

/**
 * A VAPID key's id: its RFC 7638 JWK thumbprint, base64url.
 */
export type KeyId = string;

/**
 * Whether a key signs new tokens.
 */
export type KeyStatus = "current" | "retired";

/**
 * A stable, machine-readable error code. These strings are part of the RPC
 * protocol (`docs/rpc.md`): never rename one, only add.
 */
export type KmsErrorCode = "invalid_input" | "not_found" | "already_exists" | "locked" | "unlock_failed" | "throttled" | "forbidden" | "storage" | "internal" | "lease_expired" | "lease_revoked" | "lease_key_rotated" | "user_deleted" | "quota_exceeded" | "integrity";

/**
 * `lease_courier` parameters: a token request the relay sealed to the
 * lease's courier key (no session; the sealed credential is the
 * authority).
 */
export type LeaseCourierParams = {
  user: UserId,
  lease_id: LeaseId,
  sealed: string,
};

/**
 * `lease_courier` result: the `lease_issue` result, sealed to the relay
 * that made the request.
 */
export type LeaseCourierResult = {
  sealed: string,
};

/**
 * `lease_create` parameters. An empty `audiences` list means "the origins
 * of the user's stored subscriptions".
 */
export type LeaseCreateParams = {
  user: UserId,
  session: SessionToken,
  lease: LeaseParams,
  /**
   * The relay's courier public key (P-256, SEC1 uncompressed,
   * base64url): the credential then comes back sealed to it, and the
   * relay's token requests travel sealed (`lease_courier`), so the page
   * that carries them reads neither.
   */
  relay_key?: string,
};

/**
 * `lease_create` result: the lease, and its credential, returned once:
 * in the clear (`credential`), or sealed to the relay's key
 * (`sealed_credential`, with the lease's `courier_key`) when the call gave
 * one.
 */
export type LeaseCreateResult = {
  lease: LeaseInfo,
  /**
   * Hand this to the lease holder; the KMS does not keep it.
   */
  credential?: string,
  /**
   * The credential sealed to `relay_key` (HPKE): only the relay opens it.
   */
  sealed_credential?: string,
  /**
   * The lease's courier public key: the relay seals its token requests
   * to it.
   */
  courier_key?: string,
};

/**
 * What the lease holder presents to get tokens: the lease id and the
 * 32-byte lease secret, as the text `kmsl1.<lease id>.<base64url secret>`.
 *
 * The KMS never stores the secret: it returns it once, from
 * `super::create`, and rebuilds the lease key from it on each
 * `super::issue` (see the custody section of `crate::lease`). It is a
 * bearer secret: whoever holds it can ask for tokens under the lease, and
 * together with a copy of the store it opens the VAPID key.
 *
 * The secret is wiped when the value drops, `Debug` shows only the lease
 * id, there is no `Clone` and no comparison. It (de)serializes as its text
 * because it must cross the RPC boundary twice: out to the creator once,
 * and in with each issue request. `LeaseCredential::parse` is total.
 */
export type LeaseCredential = string;

/**
 * `lease_extend` parameters.
 */
export type LeaseExtendParams = {
  user: UserId,
  session: SessionToken,
  lease_id: LeaseId,
  /**
   * The new lifetime, counted from now (at most 30 days).
   */
  lifetime_s: number,
};

/**
 * A lease's id: 16 random bytes (128 bits) as unpadded base64url, 22
 * characters of `[A-Za-z0-9_-]`.
 *
 * Only the canonical encoding of 16 bytes parses, so an id has exactly one
 * spelling: it is safe as a storage key segment, and it contains no `.`,
 * which separates the parts of a `super::LeaseCredential`. Ids are
 * public (they appear in listings and the audit log).
 */
export type LeaseId = string;

/**
 * The public description of a lease, for listings: no sealed key and no
 * issuance times.
 */
export type LeaseInfo = {
  id: LeaseId,
  user: UserId,
  relay: RelayLabel,
  audiences: Array<PushOrigin>,
  /**
   * The VAPID key the lease is bound to.
   */
  kid: KeyId,
  /**
   * Creation time, ms since the Unix epoch.
   */
  created_ms: number,
  /**
   * End, ms since the Unix epoch.
   */
  expires_ms: number,
  state: LeaseState,
  /**
   * When it was revoked, ms since the Unix epoch.
   */
  revoked_ms: number | null,
  tokens_per_hour: number,
  max_batch: number,
  /**
   * Tokens the quota still allows now (0 unless the lease is active).
   */
  tokens_left_this_hour: number,
  /**
   * How many times it was extended.
   */
  extended: number,
};

/**
 * `lease_issue` parameters: no session, the credential is the authority.
 */
export type LeaseIssueParams = {
  user: UserId,
  /**
   * The lease credential (`kmsl1.…`) returned by `lease_create`.
   */
  credential: LeaseCredential,
  request: IssueRequest,
};

/**
 * `lease_issue` result.
 */
export type LeaseIssueResult = {
  tokens: Array<SignedJwt>,
  lease: LeaseInfo,
};

/**
 * `lease_list` result.
 */
export type LeaseList = {
  leases: Array<LeaseInfo>,
  /**
   * Leases ended more than 7 days ago that this call deleted.
   */
  cleaned_up?: Array<LeaseId>,
};

/**
 * The parameters of a new lease, as the caller sends them. Nothing here is
 * trusted; `super::create` checks it:
 *
 * - `relay`: a `RelayLabel` (1 to 64 printable ASCII characters);
 * - `audiences`: 1 to `MAX_AUDIENCES` push-service origins, each a
 *   `PushOrigin` (`https://fcm.googleapis.com`, not an endpoint URL);
 *   duplicates are merged and the set is kept sorted;
 * - `lifetime_s`: `MIN_LIFETIME_S` to `MAX_LIFETIME_S` (30 days),
 *   default `DEFAULT_LIFETIME_S` (24 h);
 * - `tokens_per_hour`: 1 to `MAX_TOKENS_PER_HOUR`, default
 *   `DEFAULT_TOKENS_PER_HOUR`;
 * - `max_batch`: 1 to `MAX_BATCH_LIMIT` and at most `tokens_per_hour`,
 *   default `DEFAULT_MAX_BATCH` or `tokens_per_hour` if smaller.
 */
export type LeaseParams = {
  /**
   * The relay's id or label.
   */
  relay: string,
  /**
   * The push-service origins the relay may address.
   */
  audiences: Array<string>,
  /**
   * The lease's lifetime from now, in seconds.
   */
  lifetime_s?: number | null,
  /**
   * The sliding-window quota.
   */
  tokens_per_hour?: number | null,
  /**
   * The most tokens one issue call may return.
   */
  max_batch?: number | null,
};

/**
 * Names one lease of a user.
 */
export type LeaseRefParams = {
  user: UserId,
  session: SessionToken,
  lease_id: LeaseId,
};

/**
 * Whether a lease can be used, as listed.
 */
export type LeaseState = "active" | "expired" | "revoked" | "key_rotated";

/**
 * A new enrollment's unlock material.
 */
export type NewEnrollment = {
  "kind": "passphrase",
  passphrase: Passphrase,
} | {
  "kind": "passkey_prf",
  ceremony_id: CeremonyId,
  /**
   * base64url credential id.
   */
  credential_id: string,
  /**
   * base64url of `prf.results.first`.
   */
  prf_output: PrfOutput,
} | {
  "kind": "passkey_gate",
  credential_id: string,
  public_key: string,
};

/**
 * A passphrase as typed by the user. It must cross the RPC boundary, so it
 * (de)serializes as a plain string, but it never prints and is wiped on drop.
 */
export type Passphrase = string;

/**
 * `prf_begin` result: the salt to pass as `prf.eval.first` (base64url).
 */
export type PrfBeginResult = {
  ceremony_id: CeremonyId,
  prf_salt: string,
  expires_ms: number,
};

/**
 * The 32-byte output of the WebAuthn PRF extension (`prf.results.first`),
 * carried as base64url on the wire.
 */
export type PrfOutput = string;

/**
 * The origin (`scheme://host[:port]`) of a push service, in its ASCII
 * serialization (WHATWG URL): exactly what RFC 8292 section 2 requires as
 * the JWT `aud`. A value of this type passed these checks:
 *
 * - it is its own origin serialization: no path (not even `/`), query,
 *   fragment or userinfo, lowercase host, IDNs in punycode, no default port;
 * - the scheme is `https`, or `http` for a loopback host (`localhost`,
 *   `127.0.0.0/8`, `[::1]`), so that local test push services work but a
 *   token is never addressed to a remote service over plain HTTP.
 */
export type PushOrigin = string;

/**
 * A push subscription exactly as `PushSubscription.toJSON()` gives it in the
 * browser (W3C Push API, `PushSubscriptionJSON`):
 *
 * ```json
 * {"endpoint": "https://…", "expirationTime": null, "keys": {"p256dh": "…", "auth": "…"}}
 * ```
 *
 * Nothing here is checked: turn it into a `ValidatedSubscription` before
 * use. Unknown fields are ignored (the Push API's `keys` is an open record).
 * `Debug` does not print the auth secret.
 */
export type PushSubscription = {
  /**
   * The push resource URL the relay POSTs to.
   */
  endpoint: string,
  /**
   * When the subscription expires, milliseconds since the Unix epoch, or
   * `null` (the usual case). Absent is `null`; anything but a
   * non-negative integer or `null` is refused.
   */
  expirationTime?: number | null,
  /**
   * The user agent's keys.
   */
  keys: PushSubscriptionKeys,
};

/**
 * The `keys` of a `PushSubscription`, base64url without padding. Wiped
 * from memory on drop.
 */
export type PushSubscriptionKeys = {
  /**
   * The user agent's ECDH public key: a 65-byte uncompressed P-256 point.
   */
  p256dh: string,
  /**
   * The 16-byte authentication secret.
   */
  auth: string,
};

/**
 * What wraps an enrollment again: a new passphrase (under the deployment's
 * policy, with a fresh salt; one that opens the current record is refused:
 * whoever took the copy may know it), the PRF output of the enrollment's
 * passkey for its stored salt (it must open the current record: that
 * proves it is that passkey), or, for a gate-mode passkey, nothing: the
 * engine draws a fresh gate key (naming it is the consent to keep an
 * enrollment that protects nothing at rest).
 */
export type RekeyCredential = {
  "kind": "passphrase",
  passphrase: Passphrase,
} | {
  "kind": "passkey_prf",
  prf_output: PrfOutput,
} | {
  "kind": "passkey_gate",
};

/**
 * `rekey` parameters: a new master secret for the user, after a
 * compromise. Every enrollment the user keeps is wrapped again, in the
 * same write, and every other one is removed: each intact enrollment must
 * be named once, in `rewrap` or in `remove`, and each damaged one in
 * `remove`. At least one enrollment must remain.
 */
export type RekeyParams = {
  user: UserId,
  session: SessionToken,
  rewrap?: Array<RekeyRewrap>,
  /**
   * Enrollments to remove, with the user's consent.
   */
  remove?: Array<EnrollmentId>,
};

/**
 * `rekey` result: every earlier session of the user has ended (they held
 * the old master secret); this is the new one.
 */
export type RekeyResult = {
  user: UserId,
  session: SessionToken,
  expires_ms: number,
  /**
   * The enrollments now, each wrapping the new master secret.
   */
  enrollments: Array<EnrollmentInfo>,
  removed: Array<EnrollmentId>,
  /**
   * VAPID and audit signing keys re-sealed under the new master secret
   * (the keys themselves are unchanged: rotate VAPID keys beside it).
   */
  resealed_keys: number,
};

/**
 * One enrollment to wrap the new master secret under.
 */
export type RekeyRewrap = {
  enrollment_id: EnrollmentId,
  credential: RekeyCredential,
};

/**
 * The relay a lease is granted to: an id or label chosen by the user or the
 * application, shown in listings and recorded in the audit log.
 *
 * 1 to `MAX_RELAY_LEN` printable ASCII characters (space to `~`), without
 * leading or trailing spaces. ASCII only, so that a label cannot hide
 * control characters, bidirectional overrides or look-alike letters from
 * the person reading a list of leases.
 */
export type RelayLabel = string;

/**
 * `remove_enrollment` parameters.
 */
export type RemoveEnrollmentParams = {
  user: UserId,
  session: SessionToken,
  enrollment_id: EnrollmentId,
};

/**
 * `remove_enrollment` result.
 */
export type RemoveResult = {
  removed: EnrollmentId,
  remaining: number,
};

/**
 * A request id, echoed in the response: a number or a short string.
 */
export type RequestId = number | string;

/**
 * `vapid_rotate` result.
 */
export type RotateResult = {
  current: VapidPublicInfo,
  retired: VapidPublicInfo,
  /**
   * Push subscriptions are bound to the key they were made with: every
   * subscription made with `retired` must be made again with `current`.
   */
  resubscribe_required: boolean,
  note: string,
  /**
   * The stored subscriptions made with the retired key.
   */
  affected_subscriptions: Array<SubscriptionId>,
  /**
   * The active leases bound to the retired key: refused from now on
   * (`lease_key_rotated`); grant new ones.
   */
  affected_leases: Array<LeaseId>,
};

/**
 * An error as it crosses the RPC boundary. `code` is stable (switch on it);
 * `message` is for people. Neither ever carries secret bytes: messages name
 * fields and limits, never values.
 */
export type RpcError = {
  code: KmsErrorCode,
  message: string,
  /**
   * For `throttled` and `quota_exceeded`: how long to wait before trying
   * again.
   */
  retry_after_ms?: number,
  /**
   * For `integrity`: the first `seq` of the user's audit log that is not
   * as the engine wrote it.
   */
  first_bad_seq?: number,
};

/**
 * A user and one of its sessions.
 */
export type SessionParams = {
  user: UserId,
  session: SessionToken,
};

/**
 * `setup` and `unlock` result: a new session.
 */
export type SessionResult = {
  user: UserId,
  session: SessionToken,
  expires_ms: number,
  /**
   * The enrollment that was created (setup) or used (unlock).
   */
  enrollment: EnrollmentInfo,
  /**
   * True when the unlock re-wrapped an old record at the current cost.
   */
  rewrapped: boolean,
};

/**
 * `session_status` result.
 */
export type SessionStatus = {
  expires_ms: number,
};

/**
 * A session token: 32 random bytes, base64url. A bearer capability, so it
 * never prints.
 */
export type SessionToken = string;

/**
 * `setup` parameters.
 */
export type SetupParams = {
  user: UserId,
  enrollment: NewEnrollment,
  label?: string | null,
};

/**
 * `sign_jwt` parameters.
 */
export type SignJwtParams = {
  user: UserId,
  session: SessionToken,
  claims: JwtRequest,
};

/**
 * A signed token, as returned by RPC.
 */
export type SignedJwt = {
  /**
   * The compact JWS.
   */
  jwt: string,
  /**
   * The signing key's id (RFC 7638 thumbprint).
   */
  kid: KeyId,
  /**
   * The token's expiry, seconds since the Unix epoch.
   */
  exp: number,
  /**
   * The complete `Authorization` header value.
   */
  authorization: string,
  /**
   * The token's `jti`, when it has one (for the audit log and the holder).
   */
  jti?: string,
};

/**
 * `status` result: whether `user` exists here and how it unlocks, so that
 * an app can choose between `setup` and `unlock` without trying. No
 * session needed; a user of another app is `unknown`, as a missing one.
 */
export type StatusResult = {
  user: UserId,
  state: UserState,
  /**
   * The methods the user's intact enrollments offer, each once, sorted
   * by name (empty unless `set_up`).
   */
  methods: Array<EnrollmentMethod>,
  /**
   * In the browser, whether the KMS frame holds a session of the user
   * (added by the frame, which keeps the sessions). Absent natively.
   */
  session?: boolean,
};

/**
 * `subscription_add` parameters.
 */
export type SubscriptionAddParams = {
  user: UserId,
  session: SessionToken,
  /**
   * The browser's `PushSubscription.toJSON()`.
   */
  subscription: PushSubscription,
};

/**
 * A push subscription's id: SHA-256 of its normalized endpoint (the UTF-8
 * bytes of `ValidatedSubscription::endpoint`), unpadded base64url, 43
 * characters. The same endpoint is therefore always the same subscription
 * (a browser that subscribes again with new keys replaces it), and a page
 * can compute the id of its current subscription itself
 * (`crypto.subtle.digest("SHA-256", endpoint)`).
 *
 * An endpoint carries the push service's high-entropy handle on the user
 * agent, which a hash does not reveal: ids may appear in logs and audit
 * entries where endpoints should not.
 */
export type SubscriptionId = string;

/**
 * The public description of a stored subscription, for RPC results: no
 * auth secret, no keys. `Debug` leaves out the endpoint (the push
 * service's handle on the user agent); serialization includes it, for the
 * user's own pages.
 */
export type SubscriptionInfo = {
  /**
   * SHA-256 of the endpoint.
   */
  id: SubscriptionId,
  /**
   * The push resource URL (normalized).
   */
  endpoint: string,
  /**
   * The endpoint's origin: the push service, a lease audience.
   */
  origin: PushOrigin,
  /**
   * The VAPID key the subscription was made with.
   */
  kid: KeyId,
  /**
   * `expirationTime`, milliseconds since the Unix epoch.
   */
  expiration_time_ms: number | null,
  /**
   * When the record was made, milliseconds since the Unix epoch.
   */
  created_ms: number,
};

/**
 * `subscription_list` result.
 */
export type SubscriptionList = {
  subscriptions: Array<SubscriptionInfo>,
};

/**
 * `subscription_remove` parameters.
 */
export type SubscriptionRemoveParams = {
  user: UserId,
  session: SessionToken,
  id: SubscriptionId,
};

/**
 * `subscription_remove` result.
 */
export type SubscriptionRemoveResult = {
  removed: SubscriptionId,
  /**
   * Active leases that named this subscription's push service and have no
   * other subscription there now.
   */
  affected_leases: Array<LeaseId>,
};

/**
 * What unlocks an enrollment.
 */
export type UnlockCredential = {
  "kind": "passphrase",
  passphrase: Passphrase,
} | {
  "kind": "passkey_prf",
  /**
   * base64url credential id (selects the enrollment).
   */
  credential_id: string,
  /**
   * base64url of `prf.results.first` for the enrollment's salt.
   */
  prf_output: PrfOutput,
} | {
  "kind": "passkey_gate",
  /**
   * The ceremony from `gate_begin`.
   */
  ceremony_id: CeremonyId,
  /**
   * The browser's `PublicKeyCredential.toJSON()` of the assertion.
   */
  assertion: AuthenticationResponseJSON,
};

/**
 * `unlock` parameters.
 */
export type UnlockParams = {
  user: UserId,
  /**
   * Which enrollment; optional when the credential identifies it (the
   * single passphrase enrollment, a PRF credential id, a gate ceremony).
   */
  enrollment_id?: EnrollmentId | null,
  credential: UnlockCredential,
};

/**
 * `user_delete` parameters.
 */
export type UserDeleteParams = {
  user: UserId,
  session: SessionToken,
  /**
   * The user id again: deletion cannot be undone, so a caller must say
   * which user it means twice.
   */
  confirm: string,
};

/**
 * `user_delete` result.
 */
export type UserDeleteResult = {
  user: UserId,
  deleted_ms: number,
  /**
   * Leases that were active and are now gone (their relays get
   * `user_deleted`).
   */
  leases_revoked: Array<LeaseId>,
  /**
   * How many push subscriptions were erased.
   */
  subscriptions_removed: number,
  /**
   * The signed checkpoint over the user's audit chain, ending with the
   * `user_delete` entry.
   */
  final_checkpoint: Checkpoint,
  /**
   * The user's whole audit log as an export (`docs/audit-format.md`)
   * that ends with the deletion and `final_checkpoint`: the last one
   * anybody can make, since no session can be opened any more.
   */
  export: string,
};

/**
 * A user of the KMS (a tenant). Chosen by the embedding app.
 */
export type UserId = string;

/**
 * Just a user.
 */
export type UserParams = {
  user: UserId,
};

/**
 * Whether a user id is in use.
 */
export type UserState = "unknown" | "set_up" | "deleted";

/**
 * `vapid_public` result.
 */
export type VapidKeys = {
  current: VapidPublicInfo | null,
  retired: Array<VapidPublicInfo>,
};

/**
 * The public description of a stored key, returned by RPCs.
 */
export type VapidPublicInfo = {
  /**
   * The RFC 7638 thumbprint of the public key.
   */
  kid: KeyId,
  /**
   * Unpadded base64url of the 65-byte uncompressed point
   * (`applicationServerKey`).
   */
  public_key: string,
  /**
   * The same key as a JWK.
   */
  jwk: Jwk,
  /**
   * The user's key version (1 for the first key, +1 per rotation).
   */
  version: number,
  status: KeyStatus,
  /**
   * Creation time, milliseconds since the Unix epoch.
   */
  created_ms: number,
  /**
   * Retirement time, milliseconds since the Unix epoch.
   */
  retired_ms: number | null,
};

/**
 * The result of `verify_export`. Serializes to the JSON the verify RPC
 * and `kms audit verify --json` return.
 */
export type VerifyReport = {
  /**
   * True only when every check passed. Warnings do not make it false.
   */
  valid: boolean,
  /**
   * The header's scope, once the export was read.
   */
  scope: string | null,
  /**
   * The header's `audit_kid`, once the export was read.
   */
  audit_kid: string | null,
  /**
   * When the export was made, as the header says (ms since the Unix
   * epoch). In a valid export it is the final checkpoint's signed time:
   * an export presented as current but made long ago is an old copy.
   */
  exported_ms: number | null,
  /**
   * The number of entry lines, once the export was read.
   */
  entries: number,
  /**
   * How many of the export's checkpoints verified (0 if verification
   * stopped before the checkpoints).
   */
  checkpoints_verified: number,
  /**
   * How many of the verifier's expected checkpoints were matched against
   * the export.
   */
  expected_checkpoints_verified: number,
  /**
   * Whether every entry's MAC was checked and verified.
   */
  macs_checked: boolean,
  /**
   * The export's head (hash of its last entry, base64url), once read.
   */
  head: string | null,
  first_failure: Failure | null,
  /**
   * The `seq` of every `tamper_detected` entry in the export, once read:
   * the engine found the stored log rewritten before each of them and
   * refused to sign over it (the entry says where; see the warnings). A
   * valid export can carry them: it is then an honest record of a
   * tampered history.
   */
  tamper_detected: Array<number>,
  /**
   * What the verification could not establish (trust in an unpinned key,
   * MACs not checked, timestamps going backwards).
   */
  warnings: Array<string>,
};

/**
 * Every RPC method by wire name: its `params` and the `result` of a
 * successful call (docs/rpc.md section 4).
 */
export interface KmsMethods {
  info: { params: Empty; result: InfoResult };
  setup: { params: SetupParams; result: SessionResult };
  unlock: { params: UnlockParams; result: SessionResult };
  lock: { params: SessionParams; result: Empty };
  session_status: { params: SessionParams; result: SessionStatus };
  list_enrollments: { params: UserParams; result: EnrollmentList };
  prf_begin: { params: UserParams; result: PrfBeginResult };
  gate_begin: { params: GateBeginParams; result: GateBeginResult };
  add_enrollment: { params: AddEnrollmentParams; result: EnrollmentInfo };
  remove_enrollment: { params: RemoveEnrollmentParams; result: RemoveResult };
  change_passphrase: { params: ChangePassphraseParams; result: EnrollmentInfo };
  vapid_generate: { params: SessionParams; result: VapidPublicInfo };
  vapid_rotate: { params: SessionParams; result: RotateResult };
  vapid_public: { params: UserParams; result: VapidKeys };
  sign_jwt: { params: SignJwtParams; result: SignedJwt };
  audit_export: { params: AuditExportParams; result: AuditExportResult };
  audit_verify: { params: AuditVerifyParams; result: VerifyReport };
  subscription_add: { params: SubscriptionAddParams; result: SubscriptionInfo };
  subscription_list: { params: SessionParams; result: SubscriptionList };
  subscription_remove: { params: SubscriptionRemoveParams; result: SubscriptionRemoveResult };
  lease_create: { params: LeaseCreateParams; result: LeaseCreateResult };
  lease_list: { params: SessionParams; result: LeaseList };
  lease_revoke: { params: LeaseRefParams; result: LeaseInfo };
  lease_extend: { params: LeaseExtendParams; result: LeaseInfo };
  lease_issue: { params: LeaseIssueParams; result: LeaseIssueResult };
  lease_courier: { params: LeaseCourierParams; result: LeaseCourierResult };
  user_delete: { params: UserDeleteParams; result: UserDeleteResult };
  rekey: { params: RekeyParams; result: RekeyResult };
  status: { params: UserParams; result: StatusResult };
}

/** A method's wire name. */
export type KmsMethod = keyof KmsMethods;

/**
 * A request (docs/rpc.md section 1). `params` may be left out when the
 * method takes none (`{}`).
 */
export type KmsRequest<M extends KmsMethod = KmsMethod> = { v: 1; id: RequestId; method: M; params: KmsMethods[M]["params"] };

/**
 * A response: `result`, or `error` (`id` is null only when the request was
 * refused before its id was read).
 */
export type KmsResponse<M extends KmsMethod = KmsMethod> =
  | { v: 1; id: RequestId; result: KmsMethods[M]["result"] }
  | { v: 1; id: RequestId | null; error: RpcError };
