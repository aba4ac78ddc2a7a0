#!/usr/bin/env bash
# Build and run the JSON redaction benchmark (bench/bench_redact.c) with
# the system C compiler at -O2, outside CMake: it needs only a few engine
# files.  Usage: bench/bench_redact.sh   (from the repository root or not)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/build"
${CC:-cc} -O2 -g -D_GNU_SOURCE -I"$root/engine" -I"$root/include" -I"$root" \
  "$root/bench/bench_redact.c" "$root/engine/event/redact_json.c" \
  "$root/engine/event/redact_form.c" \
  "$root/engine/event/redact_names.c" \
  "$root/engine/event/jsonpath.c" "$root/common/buf.c" \
  -o "$root/build/bench_redact"
echo "commit $(git -C "$root" rev-parse --short HEAD), $(uname -m), $(${CC:-cc} --version | head -1)"
grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: /cpu: /' || true
"$root/build/bench_redact"
