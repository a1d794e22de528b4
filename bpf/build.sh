#!/usr/bin/env bash
# Build the BPF objects, their loader and the ptrace injector into bpf/out
# when clang and libbpf are present and a source changed; otherwise say why
# and leave the faults that need them marked unavailable (the product still
# starts). Idempotent: a sum of the sources decides.
set -euo pipefail
cd "$(dirname "$0")"
say() { printf '\033[1m[bpf]\033[0m %s\n' "$*"; }
out=out
sum=$(cat build.sh *.c *.h | sha256sum | cut -c1-16)
if [ "$(cat "$out/.sum" 2>/dev/null)" = "$sum" ] && [ -x "$out/gameday-bpf" ] && [ -x "$out/gameday-ptrace" ]; then exit 0; fi
cc=$(command -v clang || true)
if [ -z "$cc" ]; then say "clang not found: connect-error, packet-drop and syscall-error stay unavailable (install clang libbpf-dev)"; exit 0; fi
mkdir -p "$out"
# the ptrace injector needs only a C compiler
"$cc" -O2 -Wall -o "$out/gameday-ptrace" ptrace.c
if [ ! -f /usr/include/bpf/libbpf.h ]; then say "libbpf-dev not found: connect-error and packet-drop stay unavailable"; exit 0; fi
arch_inc="/usr/include/$(uname -m)-linux-gnu"
for p in connect skb override; do
  "$cc" -O2 -g -Wall -Wno-pass-failed -target bpf -I"$arch_inc" -c "$p.bpf.c" -o "$out/$p.bpf.o"
done
"$cc" -O2 -Wall -o "$out/gameday-bpf" loader.c -lbpf
echo "$sum" > "$out/.sum"
say "built bpf/out: connect.bpf.o skb.bpf.o override.bpf.o gameday-bpf gameday-ptrace"
