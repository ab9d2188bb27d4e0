// The getting-started path of docs/integration.md, played from the two
// packed npm packages alone (scripts/build-packages.sh): an empty app
// folder installs the tarballs, runs the section's commands and writes its
// two files as the document has them (only the ports differ), and two
// plain static servers (the app's, and the KMS site's with the headers
// `kms-origin headers` printed) serve them. Nothing here reads the source
// tree but the document and the tarballs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { browser, repo, typePassphrase, PAGE_ERRORS } from './harness.mjs';

const dirs = [];
const servers = [];
after(() => {
  for (const s of servers) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// The fenced block after `<!-- getting-started: NAME -->` in the document,
// without the list's indentation.
function block(doc, name) {
  const m = new RegExp(`<!-- getting-started: ${name.replace('.', '\\.')} -->\\n( *)\`\`\`\\w*\\n([\\s\\S]*?)\\n\\1\`\`\``).exec(doc);
  assert.ok(m, `docs/integration.md has no getting-started block ${name}`);
  const indent = m[1].length;
  return `${m[2].split('\n').map((l) => l.slice(indent)).join('\n')}\n`;
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm', '.json': 'application/json', '.css': 'text/css; charset=utf-8' };

// A plain static file server on a free loopback port: GET of files under
// `root`, the same `headers` on every answer (404s included), nothing else.
function staticServer(root, headers = []) {
  const server = createServer((req, res) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    const path = normalize(join(root, decodeURIComponent(new URL(req.url, 'http://x').pathname)));
    let body = null;
    if (req.method === 'GET' && (path + sep).startsWith(root + sep)) {
      try { body = readFileSync(path.endsWith(sep) ? join(path, 'index.html') : path); } catch { body = null; }
    }
    if (body === null) { res.statusCode = 404; res.end('not found'); return; }
    res.setHeader('Content-Type', TYPES[extname(path)] ?? 'application/octet-stream');
    res.end(body);
  });
  servers.push(server);
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(`http://localhost:${server.address().port}`)));
}

// A TypeScript app against the installed packages, as `tsc --strict` sees
// them through their `exports` and `types`, with Node's resolution and a
// bundler's: the declarations resolve (an `any` would make the
// @ts-expect-error lines fail), and the client's own JS passes --checkJs.
function typeCheck(app) {
  const tsc = join(repo, 'tests/browser/node_modules/.bin/tsc');
  writeFileSync(join(app, 'check.ts'), `import { Kms, KmsError, versionsCompatible, type Result } from '@kms-web/client';
import { kmsHeaders, kmsConfig } from '@kms-web/origin';
export async function pwa(): Promise<string> {
  const kms = await Kms.connect({ kmsOrigin: 'https://kms.example.com' });
  const key: Result<'vapid_generate'> = await kms.vapidGenerate({ user: 'alice' });
  // @ts-expect-error: claims are required
  await kms.signJwt({ user: 'alice' });
  // @ts-expect-error: not an option
  await Kms.connect({ kmsOrigin: 'https://kms.example.com', allowedHosts: [] });
  const headers: [string, string][] = kmsHeaders({ allowedHosts: ['https://app.example.com'] });
  const same: boolean = versionsCompatible(Kms.version, kms.info.kms_version);
  try { await kms.lock({ user: 'alice' }); } catch (e) { if (e instanceof KmsError && e.code === 'locked') return 'locked'; }
  return key.kid + headers[0][0] + kmsConfig({ allowedHosts: ['https://app.example.com'] }) + same;
}
`);
  for (const [moduleKind, resolution] of [['node16', 'node16'], ['es2022', 'bundler']]) {
    execFileSync(tsc, ['--strict', '--noEmit', '--target', 'es2022', '--lib', 'es2022,dom', '--module', moduleKind,
      '--moduleResolution', resolution, '--skipLibCheck', 'false', 'check.ts'], { cwd: app, stdio: 'inherit' });
    execFileSync(tsc, ['--strict', '--noEmit', '--allowJs', '--checkJs', '--target', 'es2022', '--lib', 'es2022,dom',
      '--module', moduleKind, '--moduleResolution', resolution, 'node_modules/@kms-web/client/kms-client.js'], { cwd: app, stdio: 'inherit' });
  }
}

test('the getting-started section, from the packed tarballs to a verified JWT', async () => {
  const packages = join(repo, 'target/packages');
  const tarballs = readdirSync(packages).filter((f) => /^kms-web-(client|origin)-.*\.tgz$/.test(f)).map((f) => join(packages, f));
  assert.equal(tarballs.length, 2, 'run scripts/build-packages.sh first');
  const doc = readFileSync(join(repo, 'docs/integration.md'), 'utf8');

  const app = mkdtempSync(join(tmpdir(), 'kms-getting-started-'));
  dirs.push(app);
  writeFileSync(join(app, 'package.json'), '{"name": "my-pwa", "private": true, "type": "module"}\n');
  // Step 1, from the tarballs (no registry: they have no dependencies).
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], { cwd: app });
  typeCheck(app);

  // The app's origin first: the KMS site is made for it.
  const appOrigin = await staticServer(app);
  const script = block(doc, 'site.sh').replaceAll('http://localhost:8080', appOrigin);
  // BASH_ENV unset: the script runs as the section has it, with no startup file.
  const printed = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: app, encoding: 'utf8', env: { ...process.env, BASH_ENV: '' } });
  const headers = printed.split('\n').filter(Boolean).map((line) => {
    const i = line.indexOf(': ');
    assert.ok(i > 0, `not a header line: ${line}`);
    return [line.slice(0, i), line.slice(i + 2)];
  });
  assert.deepEqual(headers.map(([n]) => n),
    ['Content-Security-Policy', 'Cross-Origin-Resource-Policy', 'X-Content-Type-Options', 'Referrer-Policy', 'Cache-Control']);
  assert.match(headers[0][1], new RegExp(`frame-ancestors ${appOrigin};`));
  const kmsOrigin = await staticServer(join(app, 'kms-site'), headers);

  writeFileSync(join(app, 'index.html'), block(doc, 'index.html'));
  const appJs = block(doc, 'app.js');
  assert.ok(appJs.includes("'http://localhost:8081'"), 'app.js names its KMS origin as the section says');
  writeFileSync(join(app, 'app.js'), appJs.replace("'http://localhost:8081'", `'${kmsOrigin}'`));

  const chromium = await browser();
  try {
    const page = await chromium.newPage();
    const errors = [];
    // The frame's integrity probe fails to load on purpose (its proof that
    // the browser checks module integrity); Firefox reports that as an error.
    // (WebKit's driver reports no page errors: PAGE_ERRORS.)
    page.on('pageerror', (e) => { if (!e.message.includes('integrity-probe.js')) errors.push(e.message); });
    await page.goto(`${appOrigin}/index.html`);
    // Set-up: the frame asks for a new passphrase (and its confirmation).
    await typePassphrase(page, 'correct horse battery staple');
    const out = page.locator('#out');
    await out.filter({ hasText: 'vapid t=' }).waitFor({ timeout: 60_000 });
    const [publicKey, authorization] = (await out.textContent()).split('\n');
    if (PAGE_ERRORS) assert.deepEqual(errors, []);

    // The token verifies with the public key the page was given, by
    // Node's own crypto (not the KMS's code), and says what app.js asked.
    const m = /^vapid t=([^,]+), k=(.+)$/.exec(authorization);
    assert.ok(m, authorization);
    assert.equal(m[2], publicKey);
    const [h, p, s] = m[1].split('.');
    const point = Buffer.from(publicKey, 'base64url');
    assert.equal(point.length, 65);
    const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33).toString('base64url') }, format: 'jwk' });
    assert.ok(verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url')));
    const header = JSON.parse(Buffer.from(h, 'base64url'));
    const payload = JSON.parse(Buffer.from(p, 'base64url'));
    assert.deepEqual(header, { typ: 'JWT', alg: 'ES256' });
    assert.equal(payload.aud, 'https://fcm.googleapis.com');
    assert.equal(payload.sub, 'mailto:you@example.com');
    assert.ok(payload.exp > Date.now() / 1000);

    // A reload: the same user is known now, so the page unlocks instead
    // (the session ended with the page) and keeps the key it had.
    await page.reload();
    await typePassphrase(page, 'correct horse battery staple');
    await out.filter({ hasText: 'vapid t=' }).waitFor({ timeout: 60_000 });
    assert.equal((await out.textContent()).split('\n')[0], publicKey);
    if (PAGE_ERRORS) assert.deepEqual(errors, []);
  } finally {
    await chromium.close();
  }
});
