// The KMS frame's check of /kms-config.json (kms-worker/web/frame-config.js):
// what kms-serve writes passes; every way an entry could never match an
// asking page, or an option be misread, is refused with its field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfig, ConfigError } from '../../../kms-worker/web/frame-config.js';

// What kms-serve writes (examples/serve/kms_origin.rs `config_json`).
const SERVED = {
  v: 1,
  allowed_hosts: ['http://localhost:8080', 'https://app.example'],
  host_groups: { shop: ['http://localhost:8080', 'https://app.example'] },
  allow_loopback_push: false,
  allow_passkey_gate: true,
};

function refused(config, field) {
  assert.throws(() => checkConfig(config), (e) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.code, 'config_invalid');
    assert.equal(e.field, field, e.message);
    assert.ok(e.message.startsWith(`kms-config.json: ${field}: `), e.message);
    return true;
  });
}

test('what kms-serve writes, and the options the frame reads, pass', () => {
  assert.deepEqual(checkConfig(structuredClone(SERVED)), SERVED);
  const full = { ...SERVED, db_name: 'kms-demo_2', session_ttl_ms: 300_000, max_lease_lifetime_s: 604_800 };
  assert.deepEqual(checkConfig(full), full);
  assert.deepEqual(checkConfig({ allowed_hosts: ['https://a.example:8443'] }), { allowed_hosts: ['https://a.example:8443'] });
});

test('an allowlist entry that no browser would report as an origin is refused, with its index, never echoed', () => {
  const cases = [
    ['http://localhost:8080/', 'a trailing slash'],
    ['http://localhost:8080/app', 'a path'],
    ['http://LOCALHOST:8080', 'capitals'],
    ['https://app.example:443', 'the default port'],
    ['https://user@app.example', 'userinfo'],
    ['http://[::1]:8080', 'an IPv6 literal'],
    ['ftp://app.example', 'another scheme'],
    ['app.example', 'no scheme'],
    [`https://${'a'.repeat(520)}.example`, 'too long'],
    ['https://*.example', 'a wildcard'],
    ['https://a_b.example', 'an underscore'],
    ['https://app.example.', 'a trailing dot'],
    [42, 'not a string'],
  ];
  for (const [entry, why] of cases) {
    assert.throws(() => checkConfig({ allowed_hosts: ['https://ok.example', entry] }), (e) => {
      assert.equal(e.field, 'allowed_hosts[1]', why);
      assert.ok(typeof entry !== 'string' || !e.message.includes(entry.replace(/^\w+:\/\//, '').slice(0, 12)), `${why}: ${e.message}`);
      return true;
    }, why);
  }
  refused({ allowed_hosts: ['https://a.example', 'https://a.example'] }, 'allowed_hosts[1]');
  refused({ allowed_hosts: [] }, 'allowed_hosts');
  refused({ allowed_hosts: 'https://a.example' }, 'allowed_hosts');
  refused({}, 'allowed_hosts');
  refused({ allowed_hosts: Array.from({ length: 65 }, (_, i) => `https://h${i}.example`) }, 'allowed_hosts');
});

test('groups name allowed hosts, each host in one group at most', () => {
  refused({ ...SERVED, host_groups: { shop: ['https://other.example'] } }, 'host_groups.shop[0]');
  refused({ ...SERVED, host_groups: { a: ['http://localhost:8080'], b: ['http://localhost:8080'] } }, 'host_groups.b[0]');
  refused({ ...SERVED, host_groups: { Shop: ['http://localhost:8080'] } }, 'host_groups');
  refused({ ...SERVED, host_groups: { shop: [] } }, 'host_groups.shop');
  refused({ ...SERVED, host_groups: [] }, 'host_groups');
  const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`g${i}`, [`https://h${i}.example`]]));
  refused({ allowed_hosts: Array.from({ length: 17 }, (_, i) => `https://h${i}.example`), host_groups: many }, 'host_groups');
});

test('options of the wrong type or range, unknown fields and other versions are refused', () => {
  refused({ ...SERVED, allow_passkey_gate: 'no' }, 'allow_passkey_gate');
  refused({ ...SERVED, allow_loopback_push: 1 }, 'allow_loopback_push');
  refused({ ...SERVED, db_name: 'a b' }, 'db_name');
  refused({ ...SERVED, session_ttl_ms: 999 }, 'session_ttl_ms');
  refused({ ...SERVED, session_ttl_ms: 1.5e3 + 0.5 }, 'session_ttl_ms');
  refused({ ...SERVED, max_lease_lifetime_s: 31 * 24 * 3600 }, 'max_lease_lifetime_s');
  refused({ ...SERVED, max_lease_lifetime_s: 59 }, 'max_lease_lifetime_s');
  refused({ ...SERVED, db_name: 'x'.repeat(65) }, 'db_name');
  refused({ ...SERVED, allowed_host: ['https://a.example'] }, 'allowed_host');
  refused({ ...SERVED, v: 2 }, 'v');
  refused(null, '(top)');
  refused(['https://a.example'], '(top)');
  refused(Object.create(null), '(top)');
  refused({ ...SERVED, db_name: 'kms', padding: 'x'.repeat(70_000) }, '(top)');
});
