#!/usr/bin/env bash
# Builds the two npm packages (docs/versioning.md) from the release bundle
# and packs them with `npm pack`, as they would be published:
#   target/packages/kms-web-client-<version>.tgz   @kms-web/client: the page-side client
#   target/packages/kms-web-origin-<version>.tgz   @kms-web/origin: everything the KMS origin serves
# The version is the workspace's (root Cargo.toml). The bundle is built
# first (scripts/build-web.sh) unless KMS_WEB_BUILT=1 says it was just built.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_node
if [ "${KMS_WEB_BUILT:-}" != 1 ]; then bash scripts/build-web.sh; fi

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "build-packages.sh: no [workspace.package] version in Cargo.toml" >&2; exit 1; }
client_version=$(sed -n "s/^const VERSION = '\(.*\)';$/\1/p" kms-client/js/kms-client.js)
[ "$client_version" = "$version" ] || {
  echo "build-packages.sh: kms-client.js says version '$client_version', Cargo.toml $version" >&2; exit 1; }
out=target/packages
rm -rf "$out"
mkdir -p "$out/client" "$out/origin"

# package.json with the version set (the templates carry none).
with_version() {
  node -e 'const fs = require("fs"); const p = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    fs.writeFileSync(process.argv[2], JSON.stringify({ name: p.name, version: process.argv[3], ...p }, null, 2) + "\n");' \
    "$1" "$2" "$version"
}

say "the client package (@kms-web/client $version)"
with_version packages/client/package.json "$out/client/package.json"
cp kms-client/js/kms-client.js kms-client/js/kms-client.d.ts kms-client/js/kms-rpc.d.ts packages/client/README.md \
  LICENSE-MIT LICENSE-APACHE "$out/client/"

say "the KMS origin package (@kms-web/origin $version)"
with_version packages/origin/package.json "$out/origin/package.json"
cp -R target/web/kms "$out/origin/kms"
cp packages/origin/kms-origin.mjs packages/origin/kms-origin.d.ts LICENSE-MIT LICENSE-APACHE "$out/origin/"
example=https://app.example.com
node "$out/origin/kms-origin.mjs" config --allow-host "$example" > "$out/origin/kms-config.template.json"
headers=$(node "$out/origin/kms-origin.mjs" headers --allow-host "$example" | sed 's/^/   /')
build=$(node "$out/origin/kms-origin.mjs" build)
HEADERS="$headers" BUILD="$build" VERSION="$version" node -e '
  const fs = require("fs");
  const text = fs.readFileSync(process.argv[1], "utf8")
    .replaceAll("{{HEADERS}}", process.env.HEADERS).replaceAll("{{BUILD}}", process.env.BUILD)
    .replaceAll("{{VERSION}}", process.env.VERSION);
  if (text.includes("{{")) throw new Error("README.md: a placeholder is left");
  fs.writeFileSync(process.argv[2], text);' packages/origin/README.md "$out/origin/README.md"

say "npm pack"
for p in client origin; do
  (cd "$out/$p" && npm pack --pack-destination .. --loglevel=warn >/dev/null)
done
for f in "$out"/*.tgz; do
  say "$(basename "$f"): $(stat -c %s "$f") bytes, $(tar -tzf "$f" | wc -l) files"
done
