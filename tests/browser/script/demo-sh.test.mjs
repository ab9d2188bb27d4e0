// The README's main-job command itself: scripts/demo.sh builds, starts its
// servers on four ports, and a Ctrl-C (SIGINT to its process group, as a
// terminal sends it) stops every process it started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repo } from '../e2e/harness.mjs';

const BASE = Number(process.env.KMS_DEMO_SH_PORT ?? 18480);

function serversOf(pgid) {
  // The processes still in the script's process group.
  const out = execFileSync('ps', ['-eo', 'pgid=,pid=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim().startsWith(`${pgid} `) && /kms-(serve|relay)/.test(l));
}

test('scripts/demo.sh serves the four origins and Ctrl-C stops everything it started', { timeout: 900_000 }, async () => {
  // detached: its own process group, like a command typed in a terminal.
  const child = spawn('bash', [join(repo, 'scripts/demo.sh')], {
    cwd: repo, detached: true, env: { ...process.env, KMS_DEMO_PORT: String(BASE) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  try {
    const ready = await Promise.race([
      new Promise((resolve) => { const t = setInterval(() => { if (out.includes('Ctrl-C here stops everything')) { clearInterval(t); resolve(true); } }, 200); }),
      exited.then(() => false),
    ]);
    assert.equal(ready, true, `demo.sh did not get ready:\n${out}`);
    assert.match(out, /step 1\/3.*\n[\s\S]*step 2\/3[\s\S]*step 3\/3/, 'each step is announced');
    assert.match(out, new RegExp(`http://localhost:${BASE}\\b`));

    const page = await fetch(`http://localhost:${BASE}/index.html`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /kms demo/);
    const config = await (await fetch(`http://localhost:${BASE}/demo-config.json`)).json();
    assert.deepEqual(config, {
      kmsOrigin: `http://localhost:${BASE + 1}`, pushService: `http://localhost:${BASE + 2}`, relay: `http://localhost:${BASE + 3}`,
    });
    const frame = await fetch(`http://localhost:${BASE + 1}/kms.html`);
    assert.equal(frame.status, 200);
    assert.match(frame.headers.get('content-security-policy'), new RegExp(`frame-ancestors http://localhost:${BASE}`));
    assert.equal((await fetch(`http://localhost:${BASE + 2}/stats`)).status, 200);
    const info = await (await fetch(`http://localhost:${BASE + 3}/v1/info`)).json();
    assert.equal(info.relay, 'demo-relay');
    assert.equal(serversOf(child.pid).length, 2, 'kms-serve and kms-relay run');
  } finally {
    process.kill(-child.pid, 'SIGINT');
  }
  const stopped = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 20_000))]);
  if (stopped === null) {
    const left = serversOf(child.pid);
    process.kill(-child.pid, 'SIGKILL');
    assert.fail(`demo.sh did not exit within 20 s of SIGINT; still running: ${left.join('; ')}`);
  }
  assert.equal(stopped.code, 130, out);
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(serversOf(child.pid), [], 'no process of the demo is left');
  assert.match(out, /stopping 2 processes/);
});
