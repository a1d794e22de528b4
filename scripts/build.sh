#!/usr/bin/env bash
# Build the web app when its sources changed since the last build.
set -euo pipefail
cd "$(dirname "$0")/.."
sum=$( (find app components lib public -type f -not -path 'lib/generated/*' 2>/dev/null; ls next.config.ts postcss.config.mjs package-lock.json tsconfig.json 2>/dev/null) | sort | xargs sha256sum | sha256sum | cut -c1-16)
if [ -f .next/BUILD_ID ] && [ "$(cat .next/.gameday-sum 2>/dev/null)" = "$sum" ]; then
  exit 0
fi
printf '\033[1m[build]\033[0m building the web app (next build)\n'
NEXT_TELEMETRY_DISABLED=1 npx --no-install next build >/tmp/gameday-next-build.log 2>&1 || { cat /tmp/gameday-next-build.log >&2; exit 1; }
tail -n 3 /tmp/gameday-next-build.log
echo "$sum" > .next/.gameday-sum
