// The KMS origin package's helper (packages/origin/kms-origin.mjs) against
// the one documented header list (docs/integration.md section 2) and the
// frame's own configuration check: what a deployer is told to send, what
// the helper prints and what kms-serve sends (examples/tests/serve.rs holds
// kms-serve to the same block) are one list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The helper as the package lays it out (beside kms/, whose frame-config.js
// it imports), from the source files.
const layout = mkdtempSync(join(tmpdir(), 'kms-origin-package-'));
mkdirSync(join(layout, 'kms'));
cpSync(new URL('../../../packages/origin/kms-origin.mjs', import.meta.url), join(layout, 'kms-origin.mjs'));
cpSync(new URL('../../../kms-worker/web/frame-config.js', import.meta.url), join(layout, 'kms/frame-config.js'));
const { kmsHeaders, kmsConfig } = await import(join(layout, 'kms-origin.mjs'));
rmSync(layout, { recursive: true, force: true });

// The header lines under `<!-- kms-origin headers -->`, without indentation.
function documented() {
  const doc = readFileSync(new URL('../../../docs/integration.md', import.meta.url), 'utf8');
  const m = /<!-- kms-origin headers -->\n( *)```\n([\s\S]*?)\n\1```/.exec(doc);
  assert.ok(m, 'docs/integration.md has no <!-- kms-origin headers --> block');
  return m[2].split('\n').map((l) => l.trim());
}

const HASHES = ["'sha256-HlDVfpznAURciX0mR8XI7bDO8gy+B7PUnOQ9t9rbpvY='", "'sha256-VY2ggl+gqG1SGKaD9blhCpNLYtKeJJ1DaXewt8jMEOE='"];

test('kms-origin headers prints the documented list, in order, placeholders filled', () => {
  const lines = kmsHeaders({ allowedHosts: ['https://app.example.com', 'https://www.example.com'], scriptHashes: HASHES })
    .map(([name, value]) => `${name}: ${value}`
      .replace(HASHES.join(' '), '<hash 1> <hash 2>')
      .replace('https://app.example.com https://www.example.com', '<app origins>'));
  assert.deepEqual(lines, documented());
});

test('only origins the frame accepts and real hash sources enter the policy', () => {
  const [[, csp]] = kmsHeaders({ allowedHosts: ['https://a.example', 'https://b.example'], scriptHashes: HASHES });
  assert.match(csp, /; frame-ancestors https:\/\/a\.example https:\/\/b\.example;/);
  for (const hosts of [[], ['https://a.example; script-src *'], ['https://a.example/'], ['*'], ['https://a.example', 'https://a.example']]) {
    assert.throws(() => kmsHeaders({ allowedHosts: hosts, scriptHashes: HASHES }), (e) => e.code === 'config_invalid', JSON.stringify(hosts));
  }
  for (const hashes of [["'unsafe-inline'"], ["'sha256-x'; script-src *"], 'x']) {
    assert.throws(() => kmsHeaders({ allowedHosts: ['https://a.example'], scriptHashes: hashes }), TypeError, JSON.stringify(hashes));
  }
});

test('kms-origin config writes what the frame accepts, and refuses what it would refuse', () => {
  const config = JSON.parse(kmsConfig({ allowedHosts: ['https://app.example.com'] }));
  assert.deepEqual(config, { v: 1, allowed_hosts: ['https://app.example.com'], allow_loopback_push: false, allow_passkey_gate: true });
  assert.equal(JSON.parse(kmsConfig({ allowedHosts: ['https://app.example.com'], allowPasskeyGate: false })).allow_passkey_gate, false);
  assert.throws(() => kmsConfig({ allowedHosts: ['https://app.example.com/'] }), (e) => e.code === 'config_invalid' && /allowed_hosts\[0\]/.test(e.message));
  assert.throws(() => kmsConfig({ allowedHosts: [] }), (e) => e.code === 'config_invalid');
});
