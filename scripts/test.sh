#!/usr/bin/env bash
# Run every test suite with node's test runner, one file at a time (the chaos
# tests signal real processes and bind ports), and end with one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find lib injectors agent worker cli demo e2e scripts -name '*.test.ts' -not -path '*/node_modules/*' 2>/dev/null | sort)
if [ ${#files[@]} -eq 0 ]; then echo "no test files found" >&2; echo "0 passed, 0 failed"; exit 1; fi
export GAMEDAY_LOG="${GAMEDAY_LOG:-warn}"
# the summary lists the slowest files first (the suite has a time budget)
export GAMEDAY_TEST_SLOWEST="${GAMEDAY_TEST_SLOWEST:-12}"
# what an earlier, killed run left (mounts, cgroup folders, stopped victims, homes), in one line
node --import tsx e2e/sweep.ts || echo "sweep: failed (above); running the tests anyway" >&2
node --import tsx --test --test-concurrency=1 --test-timeout=300000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./scripts/summary-reporter.mjs --test-reporter-destination=stdout \
  "${files[@]}"
