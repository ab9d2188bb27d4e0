// The KMS origin's /kms-config.json, checked by the frame as strictly as
// kms-serve checks what it is given (examples/serve/args.rs and
// kms_origin.rs): a configuration the frame would misread is refused, with
// the field and the reason, before anything runs. Pure, so that
// tests/browser/unit/frame-config.test.mjs can feed it every shape.

// Longest origin, as kms-serve (MAX_ORIGIN_LEN) and the engine.
const MAX_ORIGIN_CHARS = 512;
// Most hosts one KMS origin serves (the engine's MAX_HOSTS).
const MAX_HOSTS = 64;
// Most host groups (the engine's MAX_GROUPS).
const MAX_GROUPS = 16;
// Longest configuration, as JSON (the engine's MAX_CONFIG_BYTES).
const MAX_CONFIG_CHARS = 64 * 1024;
// A host name as kms-serve accepts one: DNS labels of a-z, 0-9 and '-'
// (no `*`, no `_`, no trailing dot, which a browser never reports).
const HOST_NAME = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;
// The session lifetimes the engine accepts (Sessions::with_ttl).
const MIN_SESSION_TTL_MS = 1000;
const MAX_SESSION_TTL_MS = 24 * 3600 * 1000;
// The lease lifetimes an engine may allow (kms_core::lease::MIN_LIFETIME_S,
// MAX_LIFETIME_S).
const MIN_LEASE_LIFETIME_S = 60;
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
// page, so it is refused rather than silently useless. The reasons never
// repeat the entry.
function originProblem(s) {
  if (typeof s !== 'string') return 'not a string';
  if (s.length > MAX_ORIGIN_CHARS) return `longer than ${MAX_ORIGIN_CHARS} characters`;
  let url;
  try { url = new URL(s); } catch { return 'not a URL'; }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'the scheme is not http or https';
  if (url.hostname.startsWith('[')) return 'IPv6 literals cannot be named in CSP frame-ancestors; use localhost';
  if (url.origin !== s) return 'not an origin as a browser reports one (no path, no trailing slash, lowercase, no default port, no user)';
  if (!HOST_NAME.test(url.hostname)) return 'the host is not a DNS name of a-z, 0-9 and - (no *, no _, no trailing dot)';
  return null;
}

/**
 * The configuration `c` (parsed JSON) if it is usable, else throws
 * ConfigError naming the first bad field. Unknown fields are refused: a
 * misspelt option would otherwise be silently ignored.
 */
export function checkConfig(c) {
  if (!isPlainObject(c)) throw new ConfigError('(top)', 'not a JSON object');
  if (JSON.stringify(c).length > MAX_CONFIG_CHARS) throw new ConfigError('(top)', `larger than ${MAX_CONFIG_CHARS} characters`);
  for (const key of Object.keys(c)) {
    if (!KNOWN.has(key)) throw new ConfigError(key.replace(/[^a-z0-9_]/g, '?').slice(0, 40), 'unknown field');
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
    if (Object.keys(groups).length > MAX_GROUPS) throw new ConfigError('host_groups', `at most ${MAX_GROUPS} groups`);
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
  integer('max_lease_lifetime_s', MIN_LEASE_LIFETIME_S, MAX_LEASE_LIFETIME_S);
  return c;
}
