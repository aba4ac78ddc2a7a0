#!/usr/bin/env python3
"""test_exports.py -- a shared object built from libotas exports exactly
the OTAS_API functions of include/otas/otas.h (and, for the CPython
extension, its PyInit_ function): nothing internal (otas__*, common/,
libraries) leaks, and nothing public is missing.

Run: python3 tests/c/test_exports.py include/otas/otas.h libotas.so [--extension]
(ctest runs it on libotas.so; tests/python/test_declared_once.py on the
built otas._engine extension).
"""
import re
import subprocess
import sys
from pathlib import Path


def public_functions(header):
    text = Path(header).read_text()
    return set(re.findall(r"OTAS_API\s+[^;(]*?\b(otas_\w+)\s*\(", text))


def exported(so):
    out = subprocess.run(["nm", "-D", "--defined-only", so], check=True,
                         capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TtDdBbRrVvWwi":
            if parts[1].isupper() or parts[1] in "VWi":
                syms.add(parts[2])
    return syms


def check(header, so, extension=False):
    want = public_functions(header)
    got = exported(so)
    errors = []
    if len(want) < 20:
        errors.append(f"only {len(want)} OTAS_API functions found in {header}")
    extra = {s for s in got - want
             if not (extension and s.startswith("PyInit_"))
             and not s.startswith("_")}  # _init/_fini, __bss_start...
    missing = want - got
    if extra:
        errors.append("exported but not public: " + ", ".join(sorted(extra)))
    if missing:
        errors.append("public but not exported: " + ", ".join(sorted(missing)))
    return errors


def main(argv):
    header, so = argv[0], argv[1]
    errors = check(header, so, "--extension" in argv)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    print(f"OK: {so} exports exactly the {len(public_functions(header))} "
          "OTAS_API functions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
