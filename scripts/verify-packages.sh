#!/usr/bin/env bash
# Proves the packages the way users get them (run by .ci/run, or `npm run verify-packages`):
#  1. packs every package (npm run pack);
#  2. installs the mqttest CLI tarball alone in an empty project: no other package comes with it,
#     and it starts and serves (on the workspace's Node and on the lowest Node of `engines`), and
#     `mqttest view` draws the dump of those runs;
#  3. installs the library tarballs in a scratch project outside the workspace, next to effect
#     (MQTTEST_VERIFY_EFFECT, default the newest 4.x), @effect/vitest, vitest, MQTT.js and
#     TypeScript 5, checks that there is one copy of effect, then type-checks and runs the README's
#     examples as written (packages/server/test/examples: @effect/vitest tests with
#     MqttServer.layerTest() and TestClock, and a Promise API test with start()), and runs a plain
#     script (scripts/verify/smoke.mjs) on the current Node and on the lowest Node of `engines`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
effect_version=${MQTTEST_VERIFY_EFFECT:-4}
lowest_node=${MQTTEST_VERIFY_NODE:-20.0.0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
quiet=(--no-audit --no-fund --loglevel=error)

echo "-- pack"
(cd "$root" && node scripts/pack.js)
packs="$root/packs"

echo "-- the CLI tarball alone"
mkdir "$work/cli" && cd "$work/cli"
npm init -y > /dev/null
npm install "${quiet[@]}" "$packs"/mqttest-0.*.tgz
installed=$(ls node_modules | grep -v '^\.' | tr '\n' ' ')
[ "$installed" = "mqttest " ] || { echo "the CLI brought other packages: $installed"; exit 1; }
serve() { # $@: how to run node
  coproc SERVER { exec "$@" node_modules/mqttest/bin/mqttest.js -p 0 --max-connect 1 --dumps run.jsonl; }
  local pid=$SERVER_PID startup port
  read -r startup <&"${SERVER[0]}"
  port=$(node -e 'console.log(JSON.parse(process.argv[1]).port)' "$startup")
  mosquitto_pub -p "$port" -t installed -m hello -q 1
  wait "$pid"
  echo "served on port $port with $("$@" --version)"
}
serve node
serve npx -y -p "node@$lowest_node" -- node
# The dump of both runs as a page, by the installed CLI.
[ "$(node node_modules/mqttest/bin/mqttest.js view run.jsonl)" = "run.html" ]
[ "$(grep -o '"p":"PUBLISH"' run.html | wc -l)" = "2" ] || { echo "mqttest view: expected 2 PUBLISH rows in run.html"; exit 1; }
echo "mqttest view wrote run.html"

echo "-- the libraries in a scratch project, with effect@$effect_version"
mkdir "$work/app" && cd "$work/app"
npm init -y > /dev/null
npm pkg set type=module
npm install "${quiet[@]}" "$packs"/mqttest-codec-*.tgz "$packs"/mqttest-session-*.tgz \
  "$packs"/mqttest-behavior-*.tgz "$packs"/mqttest-server-*.tgz \
  "effect@$effect_version" "@effect/vitest@^4" "vitest@^5" "mqtt@^5" "typescript@^5" "@types/node@^22"
copies=$(find node_modules -path '*/effect/package.json' -not -path '*/node_modules/@effect/*' | grep -c 'node_modules/effect/package.json$' || true)
[ "$copies" = "1" ] || { echo "expected one copy of effect, found $copies"; find node_modules -path '*node_modules/effect/package.json'; exit 1; }
echo "one copy of effect: $(node -p 'require("effect/package.json").version')"
cp "$root"/packages/server/test/examples/*.test.ts "$root"/scripts/verify/tsconfig.json "$root"/scripts/verify/smoke.mjs .
npx tsc -p tsconfig.json
npx vitest run
node smoke.mjs
npx -y -p "node@$lowest_node" -- node smoke.mjs
