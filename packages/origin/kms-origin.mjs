#!/usr/bin/env node
// What a deployer needs beside the KMS origin's files (the `kms/` folder of
// this package): the response headers of every KMS response and the
// `/kms-config.json`, made for the app origins the deployer names. Node.js
// 18 or newer, no dependencies.
//
//   npx kms-origin headers --allow-host https://app.example.com
//   cp -R node_modules/@kms-web/origin/kms kms-site    # the site to serve
//   npx kms-origin config  --allow-host https://app.example.com > kms-site/kms-config.json
//
// or, from a server's own code:
//
//   import { kmsHeaders, kmsConfig } from '@kms-web/origin';
//   const headers = kmsHeaders({ allowedHosts: ['https://app.example.com'] });
//
// The header set is the one docs/integration.md section 2 gives and
// kms-serve sends (tests/browser/unit/origin-package.test.mjs keeps the
// three equal); the configuration is checked by the frame's own
// `checkConfig` (kms/frame-config.js), so what this writes is what the
// frame accepts.
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkConfig } from './kms/frame-config.js';

const here = new URL('.', import.meta.url);

/** The bundle's manifest (kms/manifest.json): its CSP hashes and build id. */
export function manifest() {
  return JSON.parse(readFileSync(new URL('kms/manifest.json', here), 'utf8'));
}

/**
 * The headers of every response of the KMS origin (files, /kms-config.json,
 * errors), as `[name, value]` pairs in the documented order.
 * `allowedHosts`: the app origins that embed the KMS (its `frame-ancestors`,
 * equal to kms-config.json's `allowed_hosts`). `scriptHashes`: the CSP
 * sources of kms.html's two inline scripts (default: this bundle's
 * manifest.json `csp_script_hashes`).
 * @param {{allowedHosts: string[], scriptHashes?: string[]}} options
 * @returns {[string, string][]}
 */
export function kmsHeaders({ allowedHosts, scriptHashes = manifest().csp_script_hashes }) {
  // Only origins the frame accepts: nothing else can enter the policy.
  checkConfig({ v: 1, allowed_hosts: allowedHosts });
  if (!Array.isArray(scriptHashes) || !scriptHashes.every((h) => /^'sha256-[A-Za-z0-9+/]{43}='$/.test(h))) {
    throw new TypeError("scriptHashes: CSP hash sources such as 'sha256-...=' (manifest.json csp_script_hashes)");
  }
  const hashes = scriptHashes.map((h) => ` ${h}`).join('');
  return [
    ['Content-Security-Policy', `default-src 'none'; script-src 'self' 'wasm-unsafe-eval'${hashes}; worker-src 'self' blob:; `
      + `connect-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors ${allowedHosts.join(' ')}; base-uri 'none'; form-action 'none'`],
    ['Cross-Origin-Resource-Policy', 'same-origin'],
    ['X-Content-Type-Options', 'nosniff'],
    ['Referrer-Policy', 'no-referrer'],
    ['Cache-Control', 'no-cache'],
  ];
}

/** The content type of each file of the bundle, by extension. */
export const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.css': 'text/css; charset=utf-8',
};

/**
 * The text of /kms-config.json for these app origins, checked as the frame
 * checks it (throws its `ConfigError`, naming the field, otherwise).
 * @param {{allowedHosts: string[], hostGroups?: Record<string, string[]>, allowPasskeyGate?: boolean}} options
 * @returns {string}
 */
export function kmsConfig({ allowedHosts, hostGroups, allowPasskeyGate = true }) {
  const config = { v: 1, allowed_hosts: allowedHosts, ...(hostGroups ? { host_groups: hostGroups } : {}),
    allow_loopback_push: false, allow_passkey_gate: allowPasskeyGate };
  checkConfig(config);
  return `${JSON.stringify(config, null, 2)}\n`;
}

function usage(code) {
  const out = code === 0 ? process.stdout : process.stderr;
  out.write(`usage: kms-origin headers --allow-host ORIGIN [--allow-host ORIGIN ...]
       kms-origin config  --allow-host ORIGIN [--allow-host ORIGIN ...] [--forbid-passkey-gate]
       kms-origin build
headers: the response headers of every KMS response, one "Name: value" per line
config:  the /kms-config.json for these app origins, checked as the frame checks it
build:   the build id of this bundle (kms/manifest.json), to publish or to pin (expectBuild)
`);
  process.exit(code);
}

function main(argv) {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h') usage(0);
  const hosts = [];
  let gate = true;
  for (let i = 0; i < rest.length; i += 1) {
    if (rest[i] === '--allow-host' && i + 1 < rest.length) hosts.push(rest[++i]);
    else if (rest[i] === '--forbid-passkey-gate') gate = false;
    else usage(2);
  }
  try {
    if (command === 'build') {
      process.stdout.write(`${manifest().build}\n`);
    } else if (command === 'headers' && hosts.length > 0) {
      for (const [name, value] of kmsHeaders({ allowedHosts: hosts })) process.stdout.write(`${name}: ${value}\n`);
    } else if (command === 'config' && hosts.length > 0) {
      process.stdout.write(kmsConfig({ allowedHosts: hosts, allowPasskeyGate: gate }));
    } else {
      usage(2);
    }
  } catch (e) {
    process.stderr.write(`kms-origin: ${e.message}\n`);
    process.exit(1);
  }
}

// Run as a command (also through node_modules/.bin's link), not imported.
// argv[1] may name no file (`node server` runs server.js): then imported.
function runAsCommand() {
  try {
    return Boolean(process.argv[1]) && fileURLToPath(import.meta.url) === realpathSync(process.argv[1]);
  } catch {
    return false;
  }
}
if (runAsCommand()) main(process.argv.slice(2));
