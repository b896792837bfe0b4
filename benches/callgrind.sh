#!/usr/bin/env bash
# Instructions per operation, counted by callgrind: each (case, variant) loop runs
# twice, with N and 2N ops, and the difference over N is the per-op count (setup
# and start-up cancel out). Repeatable on a noisy machine.
#
#   benches/callgrind.sh [CASE ...]        default: hot_get hot_insert hot_entry_or_insert hot_remove_insert
#   OPS=200000 benches/callgrind.sh hot_get
#   FEATURES=compile-out benches/callgrind.sh compiled_out_get compiled_out_std_get   # raw vs compiled_out
#   PROFILE=release-lto benches/callgrind.sh hot_get      # built with fat LTO (benches/overhead-bin.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ops=${OPS:-100000}
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(hot_get hot_insert hot_entry_or_insert hot_remove_insert)
feat=()
[ -n "${FEATURES:-}" ] && feat=(--features "$FEATURES")
for tool in valgrind callgrind_annotate; do
  command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool is not installed (Debian: apt-get install valgrind)" >&2; exit 1; }
done
. benches/overhead-bin.sh
overhead_bin "${feat[@]}"
if [ -n "${FEATURES:-}" ]; then variants=(raw compiled_out); else variants=(raw off on_map on_key lean); fi
count() { # case variant ops -> total instructions; exits the script on any failure
  local out n
  out=$(mktemp)
  if ! valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --case "$1" --variant "$2" --ops "$3" >/dev/null 2>&1; then
    echo "callgrind.sh: $1 $2 --ops $3 failed" >&2; rm -f "$out"; kill -TERM $$; exit 1
  fi
  n=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
  rm -f "$out"
  if [ -z "$n" ]; then echo "callgrind.sh: no count for $1 $2" >&2; kill -TERM $$; exit 1; fi
  echo "$n"
}
printf '%-22s %-13s %10s %8s\n' case variant instr/op "vs raw"
for c in "${cases[@]}"; do
  raw=""
  for v in "${variants[@]}"; do
    a=$(count "$c" "$v" "$ops"); b=$(count "$c" "$v" $((2 * ops)))
    # One decimal: a loop whose map code branches on the data runs a fraction of
    # an instruction more or less per op, and truncating each count moved the
    # difference by one between runs.
    per=$(awk -v a="$a" -v b="$b" -v n="$ops" 'BEGIN { printf "%.1f", (b - a) / n }')
    [ -n "$raw" ] || raw=$per
    printf '%-22s %-13s %10.1f %+8.1f\n' "$c" "$v" "$per" "$(awk -v p="$per" -v r="$raw" 'BEGIN { print p - r }')"
  done
done
