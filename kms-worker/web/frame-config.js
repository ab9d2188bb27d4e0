// The KMS origin's /kms-config.json, checked by the frame as strictly as
// kms-serve checks what it is given (examples/serve/args.rs and
// kms_origin.rs): a configuration the frame would misread is refused, with
// the field and the reason, before anything runs. Pure, so that
// tests/browser/unit/frame-config.test.mjs can feed it every shape.

// Longest origin, as kms-serve (MAX_ORIGIN_LEN).
const MAX_ORIGIN_CHARS = 512;
// Most hosts one KMS origin serves (the engine's MAX_HOSTS).
const MAX_HOSTS = 64;
// The session lifetimes the engine accepts (Sessions::with_ttl).
const MIN_SESSION_TTL_MS = 1000;
const MAX_SESSION_TTL_MS = 24 * 3600 * 1000;
// The longest lease an engine may allow (kms_core::lease::MAX_LIFETIME_S).
const MAX_LEASE_LIFETIME_S = 30 * 24 * 3600;

const KNOWN = new Set(['v', 'allowed_hosts', 'host_groups', 'allow_loopback_push', 'allow_passkey_gate', 'db_name',
  'session_ttl_ms', 'max_lease_lifetime_s']);

/** A configuration that cannot be used: `field` is where, `message` why. */
export class ConfigError extends Error {
  constructor(field, reason) {
    super(`kms-config.json: ${field}: ${reason}`);
    this.code = 'config_invalid';
    this.field = field;
  }
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
}

// Why `s` is not an origin as a browser reports one (`event.origin`), or
// null: what does not equal its own parsed origin (a trailing slash, a
// path, capitals, a default port, userinfo) would never match an asking
// page, so it is refused rather than silently useless.
function originProblem(s) {
  if (typeof s !== 'string') return 'not a string';
  if (s.length > MAX_ORIGIN_CHARS) return `longer than ${MAX_ORIGIN_CHARS} characters`;
  let url;
  try { url = new URL(s); } catch { return 'not a URL'; }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `the scheme is ${url.protocol.slice(0, -1)}, not http or https`;
  if (url.hostname.startsWith('[')) return 'IPv6 literals cannot be named in CSP frame-ancestors; use localhost';
  if (url.origin !== s) return `not an origin: a browser names it ${url.origin} (no path, no trailing slash, lowercase, no default port)`;
  return null;
}

/**
 * The configuration `c` (parsed JSON) if it is usable, else throws
 * ConfigError naming the first bad field. Unknown fields are refused: a
 * misspelt option would otherwise be silently ignored.
 */
export function checkConfig(c) {
  if (!isPlainObject(c)) throw new ConfigError('(top)', 'not a JSON object');
  for (const key of Object.keys(c)) {
    if (!KNOWN.has(key)) throw new ConfigError(key.slice(0, 64), 'unknown field');
  }
  if ('v' in c && c.v !== 1) throw new ConfigError('v', 'only version 1 is known');
  const hosts = c.allowed_hosts;
  if (!Array.isArray(hosts) || hosts.length === 0) throw new ConfigError('allowed_hosts', 'a non-empty list of origins is required');
  if (hosts.length > MAX_HOSTS) throw new ConfigError('allowed_hosts', `at most ${MAX_HOSTS} origins`);
  hosts.forEach((h, i) => {
    const problem = originProblem(h);
    if (problem) throw new ConfigError(`allowed_hosts[${i}]`, problem);
    if (hosts.indexOf(h) !== i) throw new ConfigError(`allowed_hosts[${i}]`, 'listed twice');
  });
  if ('host_groups' in c) {
    const groups = c.host_groups;
    if (!isPlainObject(groups)) throw new ConfigError('host_groups', 'an object of group name -> list of allowed hosts');
    const seen = new Set();
    for (const [name, members] of Object.entries(groups)) {
      if (!/^[a-z0-9-]{1,32}$/.test(name)) throw new ConfigError('host_groups', 'a group name is 1 to 32 of a-z, 0-9 and -');
      if (!Array.isArray(members) || members.length === 0) throw new ConfigError(`host_groups.${name}`, 'a non-empty list of allowed hosts');
      members.forEach((h, i) => {
        if (!hosts.includes(h)) throw new ConfigError(`host_groups.${name}[${i}]`, 'not in allowed_hosts');
        if (seen.has(h)) throw new ConfigError(`host_groups.${name}[${i}]`, 'a host is in one group at most');
        seen.add(h);
      });
    }
  }
  for (const flag of ['allow_loopback_push', 'allow_passkey_gate']) {
    if (flag in c && typeof c[flag] !== 'boolean') throw new ConfigError(flag, 'true or false');
  }
  if ('db_name' in c && !(typeof c.db_name === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(c.db_name))) {
    throw new ConfigError('db_name', '1 to 64 of A-Z, a-z, 0-9, _ and -');
  }
  const integer = (field, min, max) => {
    if (field in c && !(Number.isSafeInteger(c[field]) && c[field] >= min && c[field] <= max)) {
      throw new ConfigError(field, `an integer from ${min} to ${max}`);
    }
  };
  integer('session_ttl_ms', MIN_SESSION_TTL_MS, MAX_SESSION_TTL_MS);
  integer('max_lease_lifetime_s', 1, MAX_LEASE_LIFETIME_S);
  return c;
}
