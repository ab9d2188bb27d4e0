// The README's main-job command itself: scripts/demo.sh builds, starts its
// servers on four ports, and a Ctrl-C (SIGINT to its process group, as a
// terminal sends it) stops every process it started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { repo } from '../e2e/harness.mjs';

// Listens on 127.0.0.1:port (0: the system picks one); resolves with the
// server, or null when the port is taken.
function listen(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

// A base port whose next three are free as well (demo.sh takes a base and
// uses base..base+3): a port the system picks, checked with its three
// successors, all closed again before the result is used. Another process
// may take one of them meanwhile: the test then starts demo.sh again on
// another base (`startDemo`).
async function freeBase() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await listen(0);
    const base = first.address().port;
    const held = [first];
    for (let p = base + 1; p <= base + 3 && p <= 65535; p++) {
      const s = await listen(p);
      if (s === null) break;
      held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (held.length === 4) return base;
  }
  throw new Error('no four consecutive free ports found on 127.0.0.1');
}

function serversOf(pgid) {
  // The processes still in the script's process group.
  const out = execFileSync('ps', ['-eo', 'pgid=,pid=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim().startsWith(`${pgid} `) && /kms-(serve|relay)/.test(l));
}

// Starts scripts/demo.sh on a free base; resolves once it is ready (or has
// exited). A port taken between the probe and demo.sh's own bind ("Address
// already in use") means another base and another start, three at most.
async function startDemo() {
  for (let attempt = 1; ; attempt++) {
    const base = await freeBase();
    // detached: its own process group, like a command typed in a terminal.
    const child = spawn('bash', [join(repo, 'scripts/demo.sh')], {
      cwd: repo, detached: true, env: { ...process.env, KMS_DEMO_PORT: String(base) }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run = { base, child, out: '' };
    child.stdout.on('data', (d) => { run.out += d; });
    child.stderr.on('data', (d) => { run.out += d; });
    run.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    let timer;
    run.ready = await Promise.race([
      new Promise((resolve) => { timer = setInterval(() => { if (run.out.includes('Ctrl-C here stops everything')) resolve(true); }, 200); }),
      run.exited.then(() => false),
    ]);
    clearInterval(timer);
    if (run.ready || attempt === 3 || !/address already in use/i.test(run.out)) return run;
  }
}

test('scripts/demo.sh serves the four origins and Ctrl-C stops everything it started', { timeout: 900_000 }, async () => {
  const run = await startDemo();
  const { base: BASE, child, exited } = run;
  try {
    assert.equal(run.ready, true, `demo.sh did not get ready:\n${run.out}`);
    assert.match(run.out, /step 1\/3.*\n[\s\S]*step 2\/3[\s\S]*step 3\/3/, 'each step is announced');
    assert.match(run.out, new RegExp(`http://localhost:${BASE}\\b`));

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
  assert.equal(stopped.code, 130, run.out);
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(serversOf(child.pid), [], 'no process of the demo is left');
  assert.match(run.out, /stopping 2 processes/);
});
