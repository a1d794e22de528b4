#!/usr/bin/env bash
# Install what Game Day needs, idempotently: Debian packages (when root and
# missing), npm packages (when package-lock.json changed), the Prisma client
# and the database migrations. GAMEDAY_SETUP_TEST=1 adds what tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- Node.js 20 or newer -------------------------------------------------------
if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "[setup] Node.js 20 or newer is required (found: $(node -v 2>/dev/null || echo none)). Install it from nodejs.org or your distribution, then rerun." >&2
  exit 1
fi

# --- Debian packages -------------------------------------------------------------
# chromium prints post-mortem PDFs (without it only the HTML report works); fonts-dejavu-core is inlined in them
want=(procps iproute2 iptables chromium fonts-dejavu-core)
# clang + libbpf-dev build bpf/ (connect-error, packet-drop, syscall-error); bpftool shows what is attached
want+=(clang libbpf-dev bpftool)
# strace: bench/bpf.ts sets the ptrace injector beside it
want+=(strace)
# nftables: the iptables-nft test that a table a fault created is deleted again needs nft;
# poppler-utils: the report tests read PDFs back with pdftotext / pdftoppm;
# stress-ng: the stress tests run its engine too (auto picks it when installed);
# bind9-dnsutils, dnsmasq: dig and a real upstream resolver for the DNS poisoner's tests (dnsperf: its bench);
# socat: bench/proxy.ts's baseline relay;
# docker.io, busybox-static: the container saboteur's tests run their own dockerd and build a busybox image;
# prometheus: the Watchman tests run a real Prometheus server (setpriv, util-linux, ties it to the test)
[ "${GAMEDAY_SETUP_TEST:-}" = 1 ] && want+=(poppler-utils nftables stress-ng bind9-dnsutils dnsmasq dnsperf socat prometheus util-linux docker.io busybox-static)
# docker.io: `make up DEMO=containers` on a host with no Docker engine starts a private dockerd
# (an engine installed otherwise, docker-ce for one, is used as it is)
if [ "${GAMEDAY_DEMO:-}" = containers ] && ! command -v dockerd >/dev/null 2>&1 && [ ! -S /var/run/docker.sock ]; then want+=(docker.io); fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing Debian packages (not root, not installing): ${missing[*]}"
  fi
fi

# --- BPF programs, their loader and the ptrace injector (bpf/out) ----------------
bash bpf/build.sh || say "building bpf/ failed: connect-error, packet-drop and syscall-error stay unavailable"

# --- npm packages ------------------------------------------------------------------
lock_sum=$(sha256sum package.json package-lock.json | sha256sum | cut -c1-16)
if [ "$(cat node_modules/.gameday-installed 2>/dev/null)" != "$lock_sum" ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.gameday-installed
fi
if ! node -e 'require("better-sqlite3")(":memory:").close()' 2>/dev/null; then
  say "building better-sqlite3"
  npm rebuild better-sqlite3 --loglevel=error
fi

# --- Prisma client and migrations -------------------------------------------------
# The JS schema engine and the driver adapter do all the work; pointing these at
# an existing file stops the CLI from downloading native engines (no network).
export PRISMA_SCHEMA_ENGINE_BINARY="$PWD/prisma/schema.prisma"
export PRISMA_QUERY_ENGINE_LIBRARY="$PWD/prisma/schema.prisma"
schema_sum=$(sha256sum prisma/schema.prisma | cut -c1-16)
if [ ! -f lib/generated/prisma/client.ts ] || [ "$(cat lib/generated/.schema-sum 2>/dev/null)" != "$schema_sum" ]; then
  say "generating the Prisma client"
  npx --no-install prisma generate >/dev/null
  echo "$schema_sum" > lib/generated/.schema-sum
fi
home="${GAMEDAY_HOME:-$HOME/.gameday}"
if [ -z "${DATABASE_URL:-}" ]; then
  mkdir -p "$home" && chmod 700 "$home"
fi
out=$(umask 077; npx --no-install prisma migrate deploy 2>&1) || { echo "$out" >&2; exit 1; }
# password hashes and the record of every change: owner only (the worker also
# tightens them at start, for homes this script did not make)
if [ -z "${DATABASE_URL:-}" ]; then
  chmod 700 "$home"
  for f in "$home"/gameday.db "$home"/gameday.db-wal "$home"/gameday.db-shm; do [ -e "$f" ] && chmod 600 "$f"; done
fi
say "database ready (${DATABASE_URL:-file:$home/gameday.db})"
