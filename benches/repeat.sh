#!/usr/bin/env bash
# Median ratio to raw over N separate runs of `overhead --case CASE` (each run
# already interleaves the variants and takes medians over 7 rounds): the figure
# the README's target rows quote, steadier than one run on a noisy machine.
#
#   benches/repeat.sh CASE ...          N=7 by default
#   N=11 benches/repeat.sh hot_get
#   FEATURES=compile-out benches/repeat.sh compiled_out_cold_get   # the A/A check
#   (a FEATURES build replaces target/release/overhead: build it again without)
#   PROFILE=release-lto benches/repeat.sh hot_get         # built with fat LTO (benches/overhead-bin.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-7}
feat=()
[ -n "${FEATURES:-}" ] && feat=(--features "$FEATURES")
. benches/overhead-bin.sh
overhead_bin "${feat[@]}"
for c in "$@"; do
  for _ in $(seq "$n"); do
    "$bin" --case "$c" | awk -v c="$c" '$1 == c && $2 != "raw" { sub("x", "", $5); print $2, $5 }'
  done | sort -k1,1 -k2,2n | awk -v c="$c" '
    { v[$1] = v[$1] " " $2; k[$1]++ }
    END { for (name in v) { split(substr(v[name], 2), a, " "); m = a[int((k[name] + 1) / 2)];
          printf "%-22s %-8s median %.3fx  min %.3fx  max %.3fx  (%d runs)\n", c, name, m, a[1], a[k[name]], k[name] } }' | sort
done
