// The page-port forwarder of scripts/test-browser-rust.sh, in two parts:
//
// - `listen <file>`: listens on 127.0.0.1, on a port the system picks,
//   prints `tcp-forward: listening <port>` and then forwards every
//   connection to 127.0.0.1:<the port written in file>, waiting for the
//   file when it is not there yet. Runs until killed. The script starts it
//   first: the page's origin (this port) is then known and held before the
//   KMS origins, which must name it, are configured.
// - `run <file> <command> [args...]`: the runner mode, started by cargo:
//   starts the command (wasm-bindgen-test-runner), finds the one TCP port
//   that command's process listens on (its socket inodes, looked up in
//   /proc/net; Linux only), writes it to file, and exits with the
//   command's exit code (removing the file).
//
// wasm-bindgen-test-runner serves headless tests on a port it picks
// itself; the browser is sent to WASM_BINDGEN_TEST_ADDRESS, the listening
// port.
import net from 'node:net';
import fs from 'node:fs';
import { spawn } from 'node:child_process';

const [mode, file, ...command] = process.argv.slice(2);

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

// The upstream port in file, or null while it is missing or incomplete.
function upstreamPort() {
  try {
    const port = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(port) && port > 0 && port < 65536 ? port : null;
  } catch {
    return null;
  }
}

if (mode === 'listen' && file && command.length === 0) {
  const server = net.createServer((client) => {
    // The browser may come before the runner's port is known: its bytes
    // wait in the socket until the pipe starts.
    client.on('error', () => client.destroy());
    const forward = () => {
      const port = upstreamPort();
      if (port === null) { if (!client.destroyed) setTimeout(forward, 20); return; }
      const up = net.connect(port, '127.0.0.1');
      client.pipe(up);
      up.pipe(client);
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
    };
    forward();
  });
  server.on('error', (e) => {
    console.error(`tcp-forward: cannot listen on 127.0.0.1: ${e.message}`);
    process.exit(1);
  });
  server.listen(0, '127.0.0.1', () => {
    console.log(`tcp-forward: listening ${server.address().port}`);
  });
} else if (mode === 'run' && file && command.length > 0) {
  const runner = spawn(command[0], command.slice(1), { stdio: 'inherit' });
  const timer = setInterval(() => {
    const ports = listeningPorts(runner.pid);
    if (ports.length === 1) {
      clearInterval(timer);
      // Written whole, then renamed: the forwarder never reads half a port.
      fs.writeFileSync(`${file}.tmp`, `${ports[0]}\n`);
      fs.renameSync(`${file}.tmp`, file);
    }
  }, 20);
  runner.on('error', (e) => {
    console.error(`tcp-forward: cannot start ${command[0]}: ${e.message}`);
    process.exit(1);
  });
  runner.on('exit', (code) => {
    clearInterval(timer);
    fs.rmSync(file, { force: true });
    process.exit(code ?? 1);
  });
} else {
  console.error('usage: node scripts/tcp-forward.mjs listen <file> | run <file> <command> [args...]');
  process.exit(2);
}
