// A KMS origin that cannot serve a page says why, at once, with a stable
// code, instead of a `timeout` 30 s later: a page whose origin it does not
// list, no /kms-config.json, an allowlist entry with a trailing slash. Each
// KMS origin here is the release bundle served as a plain site (no
// frame-ancestors, which would keep the frame from loading at all: the
// misconfigured deployments of these tests), with its own kms-config.json.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, browser, repo } from './harness.mjs';

const dirs = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

// A copy of the bundle with `config` as its kms-config.json (none: absent).
function bundleWith(config) {
  const dir = mkdtempSync(join(tmpdir(), 'kms-misconfig-'));
  dirs.push(dir);
  cpSync(join(repo, 'target/web/kms'), dir, { recursive: true });
  if (config !== undefined) writeFileSync(join(dir, 'kms-config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return dir;
}

// Connects the test host page to the plain-served bundle; resolves with
// connect's error ("<code>: <message>") or null.
async function connectError(config) {
  const server = await serve({ extraSite: bundleWith(typeof config === 'function' ? undefined : config) });
  const chromium = await browser();
  try {
    const page = await chromium.newPage();
    if (typeof config === 'function') writeFileSync(join(dirs.at(-1), 'kms-config.json'), JSON.stringify(config(server.origins)));
    // A long ready timeout: an answer that is not `timeout` came at once.
    await page.goto(`${server.origins.host}/index.html?kms=${encodeURIComponent(server.origins.extra)}&readyTimeoutMs=60000`);
    await page.evaluate(() => window.host.ready);
    return { error: await page.evaluate(() => window.host.connectError), origins: server.origins };
  } finally {
    await chromium.close();
    server.close();
  }
}

test('a page whose origin is not listed hears origin_not_allowed, and nothing of the list', async () => {
  const { error, origins } = await connectError({ v: 1, allowed_hosts: ['http://localhost:1', 'https://secret-partner.example'] });
  assert.match(error, /^origin_not_allowed: /);
  assert.ok(error.includes(origins.host), error);
  assert.ok(!error.includes('secret-partner') && !error.includes('localhost:1,') && !error.includes('localhost:1 '), error);
});

test('a KMS origin without /kms-config.json says config_missing', async () => {
  const { error } = await connectError(undefined);
  assert.match(error, /^config_missing: .*HTTP 404/);
});

test('an allowlist entry with a trailing slash is config_invalid; the field is named to a listed host only', async () => {
  // The page's own entry has the slash: the page is not listed verbatim,
  // so it hears that the configuration is unusable, not what is in it.
  const unlisted = await connectError((origins) => ({ v: 1, allowed_hosts: [`${origins.host}/`, 'https://partner.example/'] }));
  assert.match(unlisted.error, /^config_invalid: this key manager's kms-config.json is unusable/);
  assert.ok(!unlisted.error.includes('partner') && !unlisted.error.includes('allowed_hosts['), unlisted.error);
  // A page listed as it is hears which field.
  const listed = await connectError((origins) => ({ v: 1, allowed_hosts: [origins.host, 'https://partner.example/'] }));
  assert.match(listed.error, /^config_invalid: kms-config.json: allowed_hosts\[1\]: not an origin as a browser reports one/);
  assert.ok(!listed.error.includes('partner'), listed.error);
});

test('a configuration that is not JSON is config_invalid', async () => {
  const { error } = await connectError('{"allowed_hosts": [');
  assert.match(error, /^config_invalid: .*not JSON/);
});

test('the same bundle with a good configuration connects (the check refuses only what is wrong)', async () => {
  const { error } = await connectError((origins) => ({ v: 1, allowed_hosts: [origins.host], allow_passkey_gate: true }));
  assert.equal(error, null);
});

// Another release: the page's client is of another release line than the
// KMS (served as it is, with the version changed), or speaks another
// protocol (a connect message of protocol 2, sent by hand).
test('a client of another release line or protocol hears incompatible at once, naming both versions', async () => {
  const client = readFileSync(join(repo, 'kms-client/js/kms-client.js'), 'utf8');
  const later = client.replace(/^const VERSION = '[^']+';$/m, "const VERSION = '7.0.0';");
  assert.notEqual(later, client, 'the client has no `const VERSION` line to change');
  const server = await serve({ client: later });
  const chromium = await browser();
  try {
    const page = await chromium.newPage();
    await page.goto(`${server.origins.host}/index.html?kms=${encodeURIComponent(server.origins.kms)}&readyTimeoutMs=60000`);
    await page.evaluate(() => window.host.ready);
    const error = await page.evaluate(() => window.host.connectError);
    assert.match(error, /^incompatible: the KMS runs version \d+\.\d+\.\d+ \(protocol 1, RPC 1\); this client is 7\.0\.0 \(protocol 1, RPC 1\)/);

    // The frame itself refuses protocol 2, at once, with its own protocol.
    const answer = await page.evaluate(async (kmsOrigin) => {
      const iframe = document.createElement('iframe');
      iframe.src = `${kmsOrigin}/kms.html`;
      await new Promise((ok) => { iframe.onload = ok; document.body.append(iframe); });
      const channel = new MessageChannel();
      const reply = new Promise((ok) => { channel.port1.onmessage = (e) => ok(e.data); });
      iframe.contentWindow.postMessage({ t: 'kms:connect', v: 2 }, kmsOrigin, [channel.port2]);
      return reply;
    }, server.origins.kms);
    assert.equal(answer.t, 'fatal');
    assert.equal(answer.v, 1);
    assert.equal(answer.error.code, 'incompatible');
    assert.match(answer.error.message, /speaks protocol 1; the page's client speaks protocol 2/);
  } finally {
    await chromium.close();
    server.close();
  }
});
