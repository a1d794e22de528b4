#!/usr/bin/env bash
# Build the web app when its sources changed since the last build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash bpf/build.sh || printf '\033[1m[build]\033[0m bpf/ did not build: its faults stay unavailable\n'
inputs=()
for d in app components lib public; do [ -d "$d" ] && inputs+=("$d"); done
mapfile -t files < <({ find "${inputs[@]}" -type f -not -path 'lib/generated/*'; for f in next.config.ts proxy.ts instrumentation.ts postcss.config.mjs package-lock.json tsconfig.json; do [ -f "$f" ] && echo "$f"; done; } | sort)
sum=$(sha256sum "${files[@]}" | sha256sum | cut -c1-16)
if [ -f .next/BUILD_ID ] && [ "$(cat .next/.gameday-sum 2>/dev/null)" = "$sum" ]; then
  exit 0
fi
printf '\033[1m[build]\033[0m building the web app (next build)\n'
NEXT_TELEMETRY_DISABLED=1 npx --no-install next build >/tmp/gameday-next-build.log 2>&1 || { cat /tmp/gameday-next-build.log >&2; exit 1; }
tail -n 3 /tmp/gameday-next-build.log
echo "$sum" > .next/.gameday-sum
