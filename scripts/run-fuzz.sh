#!/usr/bin/env bash
# Run every fuzz target in a build dir for N seconds each, from its seed
# corpus (fuzz/corpus/<target>/) into a scratch corpus.  Fails on a crash.
set -euo pipefail
dir=$1; secs=${2:-15}
shopt -s nullglob
n=0
for t in "$dir"/fuzz/fuzz_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  work=build/fuzz-corpus/$name; mkdir -p "$work"
  seeds=fuzz/corpus/$name; [ -d "$seeds" ] || seeds=""
  echo "fuzz: $name for ${secs}s"
  ASAN_OPTIONS=detect_leaks=1 "$t" -max_total_time="$secs" -print_final_stats=0 \
    -artifact_prefix=build/fuzz-corpus/"$name"- "$work" $seeds 2>build/fuzz-corpus/"$name".log \
    || { tail -n 60 build/fuzz-corpus/"$name".log; echo "fuzz: $name FAILED"; exit 1; }
  n=$((n+1))
done
echo "fuzz: $n targets ran clean"
