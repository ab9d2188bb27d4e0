// The operations whose effect lasts beyond the session, and what the frame
// tells the user before it runs one. The host page asks; the user decides
// in the frame. For each operation, `describe` checks the host's params
// (display-safe: types, lengths, characters; the engine checks them again),
// reads what the user needs to know (subscriptions, leases, enrollments),
// and returns the panel's words together with the exact request that
// confirming sends. Only values shown to the user ride in that request;
// anything else the host put in its params is dropped, and `user_delete`'s
// `confirm` is the frame's, never the host's.

export const CONFIRM_OPS = new Set(['user_delete', 'lease_create', 'lease_extend', 'remove_enrollment', 'vapid_rotate']);

// The engine's defaults for lease terms (docs/rpc.md, lease_create), and
// its default longest lease (`max_lease_lifetime_s`, 7 days) when
// kms-config.json sets none.
const LEASE_DEFAULTS = { lifetime_s: 86_400, tokens_per_hour: 60, max_batch: 10 };
export const DEFAULT_MAX_LEASE_LIFETIME_S = 604_800;

class Refusal extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
const invalid = (message) => new Refusal('invalid_input', message);

/** A user id as the engine accepts it (kms-core `UserId`): safe to display. */
export function checkUser(user) {
  if (typeof user !== 'string' || !/^[A-Za-z0-9._@+-]{1,64}$/.test(user) || user === '.' || user === '..') {
    throw invalid('params.user: 1 to 64 characters of letters, digits and . _ - @ +');
  }
  return user;
}

function checkId(value, field) {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(value)) throw invalid(`params.${field}: an id from the KMS`);
  return value;
}

function checkInt(value, field, min, max, fallback) {
  if (value === undefined || value === null) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw invalid(`params.${field}: an integer from ${min} to ${max}`);
  return value;
}

// Printable ASCII without leading or trailing space: the engine's rule for
// a relay label, and text that displays as itself.
function checkRelay(value) {
  if (typeof value !== 'string' || !/^[\x21-\x7e](?:[\x20-\x7e]{0,62}[\x21-\x7e])?$/.test(value)) {
    throw invalid('params.lease.relay: 1 to 64 printable ASCII characters');
  }
  return value;
}

function checkOrigin(value) {
  let url;
  try { url = new URL(value); } catch { throw invalid('params.lease.audiences: push-service origins like https://fcm.googleapis.com'); }
  if (typeof value !== 'string' || value.length > 256 || url.protocol !== 'https:' || url.origin !== value) {
    throw invalid('params.lease.audiences: push-service origins like https://fcm.googleapis.com');
  }
  return value;
}

/** "2 hours", "7 days", "1 day 6 hours", "90 s". */
export function duration(seconds) {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3_600);
  const m = Math.floor((seconds % 3_600) / 60);
  const part = (n, unit) => (n === 0 ? '' : `${n} ${unit}${n === 1 ? '' : 's'}`);
  const text = [part(d, 'day'), part(h, 'hour'), d === 0 ? part(m, 'minute') : ''].filter(Boolean).join(' ');
  return text || `${seconds} s`;
}

function when(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; }

// The fingerprint of a relay's courier key as the relay can print it: the
// first 8 bytes of SHA-256 over the 65-byte point, in hex groups of four.
async function fingerprint(relayKeyB64) {
  let bytes;
  try {
    const s = atob(relayKeyB64.replace(/-/g, '+').replace(/_/g, '/'));
    bytes = Uint8Array.from(s, (c) => c.charCodeAt(0));
  } catch { throw invalid('params.relay_key: a P-256 point (b64url)'); }
  if (bytes.length !== 65 || bytes[0] !== 4) throw invalid('params.relay_key: a P-256 point (65 bytes, uncompressed)');
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)).slice(0, 8);
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('').replace(/(.{4})(?!$)/g, '$1 ');
}

// Characters that make a label read as something else: controls, the
// bidirectional controls and the line and paragraph separators. The same
// set the engine refuses in a label (`check_label` in kms-core), checked
// here first so that a panel never asks for a passphrase it cannot use.
const DECEPTIVE = /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/gu;

/** A label as the panel may show it: deceptive characters replaced, capped. */
export function safeLabel(label) {
  return label.replace(DECEPTIVE, '\uFFFD').slice(0, 64);
}

/** Refuses a label the host asks to store that would not display as itself. */
export function checkLabel(label) {
  if (label === undefined || label === null) return undefined;
  if (typeof label !== 'string' || label.length > 64 || new RegExp(DECEPTIVE.source, 'u').test(label)) {
    throw invalid('params.label: up to 64 characters, without control, bidirectional-control or separator characters');
  }
  return label;
}

// The label is the host's words: the method and the date it was added are
// the frame's, so the user can tell enrollments apart whatever the label says.
function describeEnrollment(e) {
  const label = typeof e.label === 'string' && e.label ? ` labelled "${safeLabel(e.label)}"` : '';
  const added = Number.isSafeInteger(e.created_ms) ? `, added ${when(e.created_ms)}` : '';
  if (e.method === 'passphrase') return `The passphrase${label}${added}`;
  if (e.method === 'passkey_prf') return `The passkey${label}${added}`;
  return `The gate-mode passkey${label}${added}`;
}

/**
 * The panel for `op`: `{title, lines, action, request}`. `call(method,
 * params)` runs an engine method with the user's session added;
 * `maxLeaseLifetimeS` is the engine's longest lease, so that the user is
 * never asked to confirm terms the engine would refuse.
 */
export async function describe(op, params, call, { now = Date.now(), maxLeaseLifetimeS = DEFAULT_MAX_LEASE_LIFETIME_S } = {}) {
  const user = checkUser(params.user);
  switch (op) {
    case 'user_delete': {
      const { leases } = await call('lease_list', { user });
      const active = leases.filter((l) => l.state === 'active').length;
      return {
        title: `Delete ${user} for good`,
        lines: [
          `Every key, passphrase, passkey, push subscription and lease of ${user} is erased. This cannot be undone, and the name ${user} cannot be used again.`,
          `${plural(active, 'active lease ends', 'active leases end')}; relays are told the user is gone.`,
          'The page receives the final audit log.',
        ],
        action: `Delete ${user}`,
        danger: true,
        request: { user, confirm: user },
      };
    }
    case 'lease_create': {
      const lease = params.lease;
      if (lease === null || typeof lease !== 'object' || Array.isArray(lease)) throw invalid('params.lease: the lease terms');
      const relay = checkRelay(lease.relay);
      if (!Array.isArray(lease.audiences ?? []) || (lease.audiences ?? []).length > 16) throw invalid('params.lease.audiences: at most 16 origins');
      let audiences = [...new Set((lease.audiences ?? []).map(checkOrigin))].sort();
      let fromSubscriptions = false;
      if (audiences.length === 0) {
        const { subscriptions } = await call('subscription_list', { user });
        audiences = [...new Set(subscriptions.map((s) => s.origin))].sort();
        fromSubscriptions = true;
        if (audiences.length === 0) throw invalid('audiences: none given and the user has no stored subscriptions to take them from');
      }
      const lifetime_s = checkInt(lease.lifetime_s, 'lease.lifetime_s', 60, maxLeaseLifetimeS, Math.min(LEASE_DEFAULTS.lifetime_s, maxLeaseLifetimeS));
      const tokens_per_hour = checkInt(lease.tokens_per_hour, 'lease.tokens_per_hour', 1, 3_600, LEASE_DEFAULTS.tokens_per_hour);
      const max_batch = checkInt(lease.max_batch, 'lease.max_batch', 1, 100, Math.min(LEASE_DEFAULTS.max_batch, tokens_per_hour));
      const request = { user, lease: { relay, audiences, lifetime_s, tokens_per_hour, max_batch } };
      let courier;
      if (params.relay_key !== undefined && params.relay_key !== null) {
        if (typeof params.relay_key !== 'string' || params.relay_key.length > 100) throw invalid('params.relay_key: a P-256 point (b64url)');
        request.relay_key = params.relay_key;
        courier = `The permission is sealed to the relay's key (fingerprint ${await fingerprint(params.relay_key)}): the page carries it but cannot use it.`;
      } else {
        courier = 'The page receives the lease\'s credential: whoever holds it can get tokens until the lease ends or you revoke it.';
      }
      return {
        title: `Let the relay "${relay}" send pushes for ${user}`,
        lines: [
          `For ${duration(lifetime_s)} (until ${when(now + lifetime_s * 1000)}), it may get signed push tokens under ${user}'s current key, also while ${user} is away.`,
          `Only for ${fromSubscriptions ? `the push services of ${user}'s subscriptions: ` : ''}${audiences.join(', ')}.`,
          `At most ${plural(tokens_per_hour, 'token', 'tokens')} an hour, ${max_batch} per request.`,
          courier,
        ],
        action: 'Grant the lease',
        request,
      };
    }
    case 'lease_extend': {
      const lease_id = checkId(params.lease_id, 'lease_id');
      const lifetime_s = checkInt(params.lifetime_s, 'lifetime_s', 60, maxLeaseLifetimeS, undefined);
      if (lifetime_s === undefined) throw invalid('params.lifetime_s: the new lifetime in seconds');
      const { leases } = await call('lease_list', { user });
      const lease = leases.find((l) => l.id === lease_id);
      if (!lease) throw new Refusal('not_found', `no lease ${lease_id} for ${user}`);
      return {
        title: `Extend the lease of the relay "${lease.relay}"`,
        lines: [
          `It ends ${when(lease.expires_ms)}; it would end ${when(now + lifetime_s * 1000)} instead (${duration(lifetime_s)} from now).`,
          `Until then it may keep getting push tokens for ${user}, for ${lease.audiences.join(', ')}, at most ${lease.tokens_per_hour} an hour.`,
        ],
        action: 'Extend the lease',
        request: { user, lease_id, lifetime_s },
      };
    }
    case 'remove_enrollment': {
      const enrollment_id = checkId(params.enrollment_id, 'enrollment_id');
      const listed = await call('list_enrollments', { user });
      const e = listed.enrollments.find((x) => x.id === enrollment_id);
      const damaged = (listed.damaged ?? []).includes(enrollment_id);
      if (!e && !damaged) throw new Refusal('not_found', `no enrollment ${enrollment_id} for ${user}`);
      const what = e ? describeEnrollment(e) : 'A damaged enrollment record';
      return {
        title: `Remove a way to unlock ${user}`,
        lines: [
          `${what} will no longer unlock ${user}.`,
          `Every other open session of ${user} ends.`,
        ],
        action: 'Remove it',
        danger: true,
        request: { user, enrollment_id },
      };
    }
    case 'vapid_rotate': {
      const [{ subscriptions }, { leases }, keys] = await Promise.all([
        call('subscription_list', { user }), call('lease_list', { user }), call('vapid_public', { user }),
      ]);
      const kid = keys.current?.kid;
      if (!kid) throw new Refusal('not_found', `${user} has no VAPID key to rotate`);
      const subs = subscriptions.filter((s) => s.kid === kid).length;
      const bound = leases.filter((l) => l.state === 'active' && l.kid === kid).length;
      return {
        title: `Replace the push key of ${user}`,
        lines: [
          'A new key signs from now on; the current one is retired and signs nothing more.',
          `${plural(subs, 'push subscription', 'push subscriptions')} made with the current key stop working: the app must subscribe again.`,
          `${plural(bound, 'active lease is', 'active leases are')} bound to the current key and refused from now on: grant new ones.`,
        ],
        action: 'Rotate the key',
        danger: true,
        request: { user },
      };
    }
    default:
      throw invalid(`unknown operation ${op}`);
  }
}
