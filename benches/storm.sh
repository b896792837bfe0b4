#!/usr/bin/env bash
# The finding storm against its two baselines, over N separate runs (medians):
#   on_map / quiet        the storm vs the same access pattern with nothing found
#                         (one run of `overhead --case t2_storm` has both, side by side)
#   on_map / disjoint     the storm vs two threads writing disjoint keys, nothing
#                         found (`t2_writes_disjoint`, on_key), run right after
#
#   benches/storm.sh            N=11 by default
#   PROFILE=release-lto benches/storm.sh   # built with fat LTO (benches/overhead-bin.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-11}
. benches/overhead-bin.sh
overhead_bin
for _ in $(seq "$n"); do
  storm=$("$bin" --case t2_storm | awk '$1 == "t2_storm" { v[$2] = $4 } END { print v["on_map"], v["quiet"] }')
  disjoint=$("$bin" --case t2_writes_disjoint | awk '$1 == "t2_writes_disjoint" && $2 == "on_key" { print $4 }')
  echo "$storm $disjoint"
done | awk '
  { s[NR] = $1; q[NR] = $2; d[NR] = $3; rq[NR] = $1 / $2; rd[NR] = $1 / $3 }
  function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((n + 1) / 2)] }
  END { n = NR
        printf "storm on_map %.1f ns, quiet %.1f ns, disjoint %.1f ns (medians of %d runs)\n", med(s, n), med(q, n), med(d, n), n
        printf "on_map / quiet    median %.2fx  (%.2fx to %.2fx)\n", med(rq, n), rq[1], rq[n]
        printf "on_map / disjoint median %.2fx  (%.2fx to %.2fx)\n", med(rd, n), rd[1], rd[n] }'
