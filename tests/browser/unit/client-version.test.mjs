// The JS client's version and its compatibility rule (docs/versioning.md):
// the client says the workspace's version, and `connect` accepts a KMS of
// the same release line only (the same major; before 1.0, the same minor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Kms, versionsCompatible } from '../../../kms-client/js/kms-client.js';

test('Kms.version is the version of the crates (the root Cargo.toml)', () => {
  const cargo = readFileSync(new URL('../../../Cargo.toml', import.meta.url), 'utf8');
  const m = /\[workspace\.package\][^[]*?\nversion = "([^"]+)"/.exec(cargo);
  assert.ok(m, 'no [workspace.package] version in Cargo.toml');
  assert.equal(Kms.version, m[1]);
  assert.equal(Kms.protocol, 1);
});

test('before 1.0 a release line is a minor version; from 1.0 a major one', () => {
  for (const [a, b] of [['0.1.0', '0.1.0'], ['0.1.0', '0.1.7'], ['0.1.3', '0.1.0'], ['1.0.0', '1.4.2'], ['2.3.1', '2.0.0'],
    ['0.1.0', '0.1.1-rc.1'], ['1.2.0+build.5', '1.0.0']]) {
    assert.equal(versionsCompatible(a, b), true, `${a} with ${b}`);
  }
  for (const [a, b] of [['0.1.0', '0.2.0'], ['0.2.0', '0.1.9'], ['0.1.0', '1.1.0'], ['1.0.0', '2.0.0'], ['2.0.0', '1.9.9'],
    ['1.0.0', '0.1.0']]) {
    assert.equal(versionsCompatible(a, b), false, `${a} with ${b}`);
  }
});

test('a version that is not x.y.z is compatible with nothing', () => {
  for (const v of ['', '1', '1.2', 'v1.2.3', '01.2.3x', '1.2.3.4', ' 1.2.3', '1.2.3 ']) {
    assert.equal(versionsCompatible(v, '1.2.3'), false, JSON.stringify(v));
    assert.equal(versionsCompatible('1.2.3', v), false, JSON.stringify(v));
  }
});
