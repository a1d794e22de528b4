#!/bin/sh
# A schedule (the seed's "Run Network Chaos every Tuesday at 2 PM"): the
# latency example every Tuesday at 14:00 Berlin time, only on weekdays in
# business hours, never on the listed dates, at least six days apart, at a
# random moment up to 30 minutes after 14:00, skipped when another run is in
# progress. `--dry-run` prints the next ten fire times and saves nothing.
set -eu
cd "$(dirname "$0")/.."
./bin/gameday.mjs schedule add tuesday-network \
  --file examples/seed-service-a-latency.yaml \
  --cron "0 14 * * 2" --tz Europe/Berlin \
  --days mon,tue,wed,thu,fri --hours 09:00-17:00 \
  --blackout 2026-12-22,2026-12-29 \
  --min-gap 144h --random 30m --policy skip "$@"
