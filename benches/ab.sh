#!/usr/bin/env bash
# Two builds side by side: the working tree's `overhead` and REV's, run alternately
# (which goes first alternates from pair to pair), N runs each per case; prints each
# build's median ratio to raw per variant. On a noisy machine, where two sets of the
# same build a few minutes apart differ by more than a change, this compares the
# builds under the same conditions, as `overhead` compares variants in one process.
#
#   benches/ab.sh REV CASE ...         N=15 by default
#   N=21 benches/ab.sh d8723c9 hot_get std_insert
#
# With FASTEST set to variants, each run is instead one loop alone per variant
# (`overhead --case C --variant V --ops OPS`, OPS=2000000 by default), raw first,
# and it prints each build's fastest and 10th-percentile time per op (in the unit
# `overhead` prints for the case) per variant, and their ratios to raw's: noise
# only adds time, so the fastest of many short runs tells two builds apart where
# medians of a loaded machine do not.
#
#   FASTEST="on_map lean" N=150 benches/ab.sh HEAD hot_get
#   PROFILE=release-lto benches/ab.sh HEAD~1 hot_get   # both built with fat LTO
#
# REV is built once in its own worktree and target directory (under the target
# directory, `ab/`), kept for the next call.
#
# The two builds differ even for the same code: the source paths compiled into each
# differ, and with them the layout. On the second machine 9ac7c97 against itself
# measured std_t2_90_10_disjoint on_key 1.469x (working tree) against 1.601x (REV),
# off 1.049x against 1.176x (the hot single-thread cases: within 0.05x either way).
# Run REV against a clean tree of the same revision first (an A/A run) and read a
# difference within that spread as none.
set -euo pipefail
cd "$(dirname "$0")/.."
me=$(basename "$0")
n=${N:-15}
[ $# -ge 2 ] || { echo "$me: usage: $me REV CASE [CASE ...]  (a git revision, then cases of 'overhead --help')" >&2; exit 2; }
case $n in '' | *[!0-9]* | 0) echo "$me: N must be a whole number of runs, at least 1 (got '$n')" >&2; exit 2 ;; esac
rev=$(git rev-parse --verify --quiet "$1^{commit}") || { echo "$me: '$1' is not a commit in this repository" >&2; exit 2; }
shift
. benches/overhead-bin.sh
overhead_bin
new=$bin
profile=$(basename "$(dirname "$new")")
target_dir=$(dirname "$(dirname "$new")")
short=${rev:0:12}
tree=$target_dir/ab/$short/src
if [ ! -d "$tree" ]; then
  mkdir -p "$(dirname "$tree")"
  git worktree prune # a worktree whose directory went with the target directory
  git worktree add -q --detach "$tree" "$rev"
fi
# The same profile (REV's Cargo.toml must define it: release-lto came in 2026-11-28).
(cd "$tree" && CARGO_TARGET_DIR="$target_dir/ab/$short/target" cargo build --profile "${PROFILE:-release}" -q -p mapguard-benches --bin overhead)
old=$target_dir/ab/$short/target/$profile/overhead
for c in "$@"; do
  for b in "$old" "$new"; do
    { "$b" --help 2>&1 || true; } | sed -n 's/^cases: //p' | tr ',' '\n' | tr -d ' ' | grep -qx "$c" ||
      { echo "$me: no case '$c' in $b (its cases: 'overhead --help')" >&2; exit 2; }
  done
done
if [ -n "${FASTEST:-}" ]; then
  ops=${OPS:-2000000}
  case $ops in '' | *[!0-9]* | 0) echo "$me: OPS must be a whole number of ops, at least 1 (got '$ops')" >&2; exit 2 ;; esac
  for v in $FASTEST; do
    for b in "$old" "$new"; do
      { "$b" --help 2>&1 || true; } | sed -n 's/^variants: //p' | tr ',' '\n' | tr -d ' ' | grep -qx "$v" ||
        { echo "$me: no variant '$v' in $b (its variants: 'overhead --help')" >&2; exit 2; }
    done
  done
  runs=$(mktemp)
  trap 'rm -f "$runs"' EXIT
  for c in "$@"; do
    : >"$runs"
    for i in $(seq "$n"); do
      if [ $((i % 2)) = 0 ]; then order="old new"; else order="new old"; fi
      for b in $order; do
        bin=$new; [ "$b" = old ] && bin=$old
        for v in raw $FASTEST; do
          # A variant the case does not have fails here, with overhead's reason.
          out=$("$bin" --case "$c" --variant "$v" --ops "$ops" 2>&1) || { echo "$me: $b build, $c $v failed:" >&2; echo "$out" >&2; exit 1; }
          t=$(printf '%s\n' "$out" | sed -n 's/^FIGURE //p')
          [ -n "$t" ] || { echo "$me: $b build, $c $v printed no figure:" >&2; echo "$out" >&2; exit 1; }
          echo "$b $v $t" >>"$runs"
        done
      done
    done
    LC_ALL=C sort -k1,1 -k2,2 -k3,3g "$runs" | awk -v c="$c" -v r="$short" '
      { k = $1 " " $2; v[k] = v[k] " " $3; m[k]++ }
      END { for (k in v) { split(substr(v[k], 2), a, " "); lo[k] = a[1]; p10[k] = a[int((m[k] + 9) / 10)]; n[k] = m[k] }
            for (k in v) { split(k, kb, " "); if (kb[2] == "raw") continue; raw = kb[1] " raw"
              printf "%-22s %-4s %-12s %-8s fastest %.2f (%.3fx raw)  p10 %.2f (%.3fx)  (%d runs)\n",
                c, kb[1], (kb[1] == "old" ? r : "worktree"), kb[2], lo[k], lo[k] / lo[raw], p10[k], p10[k] / p10[raw], n[k] } }' | sort -b -k4,4 -k2,2r
  done
  exit 0
fi
for c in "$@"; do
  for i in $(seq "$n"); do
    if [ $((i % 2)) = 0 ]; then order="old new"; else order="new old"; fi
    for b in $order; do
      bin=$new; [ "$b" = old ] && bin=$old
      "$bin" --case "$c" | awk -v c="$c" -v b="$b" '$1 == c && $2 != "raw" { sub("x", "", $5); print b, $2, $5 }'
    done
  done | sort -k1,1 -k2,2 -k3,3n | awk -v c="$c" -v r="$short" '
    { k = $1 " " $2; v[k] = v[k] " " $3; m[k]++ }
    END { for (k in v) { split(substr(v[k], 2), a, " "); split(k, kb, " ")
            printf "%-22s %-4s %-12s %-8s median %.3fx  min %.3fx  max %.3fx  (%d runs)\n",
              c, kb[1], (kb[1] == "old" ? r : "worktree"), kb[2], a[int((m[k] + 1) / 2)], a[1], a[m[k]], m[k] } }' | sort -b -k4,4 -k2,2r
done
