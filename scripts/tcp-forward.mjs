// The page-port forwarder of scripts/test-browser-rust.sh (its runner
// mode): listens on 127.0.0.1:<page port>, starts the given command (the
// wasm-bindgen-test-runner), finds the one TCP port that command's process
// listens on (its socket inodes, looked up in /proc/net; Linux only) and
// forwards every connection to the page port there. Exits with the
// command's exit code.
//
// Usage: node scripts/tcp-forward.mjs <page port> <command> [args...]
import net from 'node:net';
import fs from 'node:fs';
import { spawn } from 'node:child_process';

const [pagePort, ...command] = process.argv.slice(2);

// TCP ports a process listens on: its socket inodes, looked up in /proc/net.
function listeningPorts(pid) {
  const inodes = new Set();
  let fds = [];
  try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { return []; }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  const ports = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines = [];
    try { lines = fs.readFileSync(table, 'utf8').trim().split('\n').slice(1); } catch { continue; }
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      // f[1] local address:port (hex), f[3] state (0A: LISTEN), f[9] inode.
      if (f[3] === '0A' && inodes.has(f[9])) ports.add(parseInt(f[1].split(':').pop(), 16));
    }
  }
  return [...ports];
}

let upstream = null;
const waiting = [];
const server = net.createServer((client) => {
  // The browser may come before the runner's port is known: its bytes wait
  // in the socket until the pipe starts.
  const forward = () => {
    const up = net.connect(upstream, '127.0.0.1');
    client.pipe(up);
    up.pipe(client);
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
  };
  if (upstream === null) waiting.push(forward); else forward();
});
server.on('error', (e) => {
  console.error(`test-browser-rust: cannot listen on 127.0.0.1:${pagePort}: ${e.message}`);
  process.exit(1);
});
server.listen(Number(pagePort), '127.0.0.1', () => {
  const runner = spawn(command[0], command.slice(1), { stdio: 'inherit' });
  const timer = setInterval(() => {
    const ports = listeningPorts(runner.pid);
    if (ports.length === 1) {
      upstream = ports[0];
      clearInterval(timer);
      for (const forward of waiting.splice(0)) forward();
    }
  }, 20);
  runner.on('error', (e) => {
    console.error(`test-browser-rust: cannot start ${command[0]}: ${e.message}`);
    process.exit(1);
  });
  runner.on('exit', (code) => process.exit(code ?? 1));
});
