#!/bin/sh
# The kill switch from outside Game Day: another chaos tool long-polls the
# worker and stops itself the moment a run aborts (the Watchman's breach,
# the abort button) or someone HALTs. Needs curl and jq, and a token in
# GAMEDAY_TOKEN (any role). Webhooks instead: GAMEDAY_ABORT_WEBHOOKS=URL,...
set -eu
url=${GAMEDAY_URL:-http://127.0.0.1:3001}
seq=$(curl -fsS -H "authorization: Bearer $GAMEDAY_TOKEN" "$url/api/v1/abort-signal" | jq .seq)
while :; do
  answer=$(curl -fsS -H "authorization: Bearer $GAMEDAY_TOKEN" "$url/api/v1/abort-signal?after=$seq&wait=60000")
  next=$(echo "$answer" | jq .seq)
  if [ "$next" -gt "$seq" ]; then
    echo "Game Day says stop: $(echo "$answer" | jq -r '.last | "\(.kind) \(.reason): \(.message)"')"
    # stop your own fault injection here
    seq=$next
  fi
done
