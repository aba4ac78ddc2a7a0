#!/usr/bin/env bash
# Run every fuzz target in a build dir for N seconds each, from its seed
# corpus (fuzz/corpus/<target>/) into a scratch corpus.  Fails on a crash.
# Targets run FUZZ_JOBS at a time (default: one per core); each is one
# process on one core, so each still gets its N seconds of a whole core.
set -euo pipefail
dir=$1; secs=${2:-15}
jobs=${FUZZ_JOBS:-$(nproc)}
shopt -s nullglob

one() {
  local t=$1 secs=$2 name work seeds
  name=$(basename "$t")
  work=build/fuzz-corpus/$name; mkdir -p "$work"
  seeds=fuzz/corpus/$name; [ -d "$seeds" ] || seeds=""
  echo "fuzz: $name for ${secs}s"
  # shellcheck disable=SC2086  # $seeds is empty or one directory
  if ! ASAN_OPTIONS=detect_leaks=1 "$t" -max_total_time="$secs" -print_final_stats=0 \
      -artifact_prefix=build/fuzz-corpus/"$name"- "$work" $seeds \
      2>build/fuzz-corpus/"$name".log; then
    tail -n 60 build/fuzz-corpus/"$name".log
    echo "fuzz: $name FAILED"
    return 1
  fi
}
export -f one

targets=()
for t in "$dir"/fuzz/fuzz_*; do
  [ -x "$t" ] && targets+=("$t")
done
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets in $dir/fuzz"; exit 1; }
mkdir -p build/fuzz-corpus
# xargs exits non-zero when any target failed (after the others finish).
printf '%s\0' "${targets[@]}" |
  xargs -0 -P "$jobs" -I{} bash -c 'one "$1" "$2"' _ {} "$secs" ||
  { echo "fuzz: a target failed (its log is above)"; exit 1; }
echo "fuzz: ${#targets[@]} targets ran clean"
