#!/usr/bin/env python3
"""test_include_cycles.py -- no include cycle between the engine's units.

The engine's directories are the data flow (README "How it is built"):
the public API at the top (engine/*.c), then capture/, queue/, event/,
send/, spool/, with stats/ (counters) and log/ (the host's logger) read by
every stage, and common/ below all of them.  A unit is a directory
(engine/<stage>/, common/), except at the top of engine/, where each
file pair is its own unit: engine.{c,h} (the public calls, and the engine
struct that creates the stages and wires them together) sits above the stages, config.{c,h} (the options every stage
reads) below the stages that read them.  Every `#include "..."` line of
every .c/.h file is resolved the way the compiler does (the including
file's directory, then engine/, the repository root, include/) and gives
an edge from the including file's unit to the included file's unit.  The
check fails, listing them, on:

  - a cycle between units (every strongly connected component of more
    than one unit, with one concrete include per edge of it);
  - common/ including anything from engine/ (common is shared with
    otas-collector and must stand alone);
  - an ALLOWED edge that no longer exists (the allow-list stays honest).

It first checks itself on a small planted tree (self_test).

ALLOWED lists the edges that still close a cycle because breaking them
needs a redesign, not a moved declaration; each says why.

Run: python3 tests/c/test_include_cycles.py [REPO_ROOT]   (ctest runs it)
"""
import re
import sys
from pathlib import Path

# (from unit, to unit): why the edge is allowed although it closes a cycle.
# Empty: the sender is built from explicit inputs (send/sender.h's
# otas__sender_in_t) and no file under send/ includes engine.h.  An entry
# here needs a reason that breaking the edge is a redesign, not a moved
# declaration.
ALLOWED = {}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def unit_of(root, path):
    rel = path.relative_to(root)
    parts = rel.parts
    if parts[0] == "engine":
        if len(parts) == 2:
            return "engine/" + Path(parts[1]).stem + ".{c,h}"
        return "engine/" + parts[1] + "/"
    if parts[0] == "include":
        return "include/"
    return parts[0] + "/"


def resolve(root, src, name):
    for base in (src.parent, root / "engine", root, root / "include"):
        p = base / name
        if p.is_file():
            return p.resolve()
    return None


def graph(root):
    """{unit: {unit: 'file -> header' (first include seen)}}, errors."""
    edges, errors = {}, []
    files = sorted(p for d in ("engine", "common") if (root / d).is_dir()
                   for p in (root / d).rglob("*.[ch]"))
    for f in files:
        u = unit_of(root, f)
        edges.setdefault(u, {})
        for name in INCLUDE.findall(f.read_text(errors="replace")):
            t = resolve(root, f, name)
            if t is None:
                errors.append(f"{f.relative_to(root)}: #include \"{name}\" not found")
                continue
            v = unit_of(root, t)
            if v != u:
                edges[u].setdefault(v, f"{f.relative_to(root)} -> {t.relative_to(root)}")
    return edges, errors


def sccs(edges):
    """Tarjan's strongly connected components."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def check(root, allowed):
    """The problems of the tree at root, and its unit graph."""
    edges, errors = graph(root)
    if not edges:
        errors.append(f"no engine sources under {root}")
    for (a, b), why in allowed.items():
        if b not in edges.get(a, {}):
            errors.append(f"allowed edge {a} -> {b} no longer exists: remove it "
                          f"from ALLOWED")
    for v, via in edges.get("common/", {}).items():
        if v.startswith("engine"):
            errors.append(f"common/ depends on the engine: {via}")
    checked = {a: {b: via for b, via in out.items() if (a, b) not in allowed}
               for a, out in edges.items()}
    for comp in sccs(checked):
        if len(comp) < 2:
            continue
        lines = [f"  {a} -> {b}: {checked[a][b]}" for a in comp
                 for b in sorted(checked[a]) if b in comp]
        errors.append("include cycle between " + ", ".join(comp) + ":\n"
                      + "\n".join(lines))
    return edges, errors


def self_test():
    """The check itself finds a planted cycle (through a header two levels
    down), a common/ -> engine include and a stale allow-list entry, and
    passes the same tree once the cycle is allowed."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        files = {
            "engine/engine.c": '#include "a/x.h"\n',
            "engine/a/x.h": '#include "b/y.h"\n',
            "engine/b/y.h": '#include "common/c.h"\n',
            "engine/b/y.c": '#include "b/y.h"\n#include "a/z.h"\n',
            "engine/a/z.h": "",
            "common/c.h": "",
        }
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        _, errs = check(root, {})
        assert len(errs) == 1 and "engine/a/, engine/b/" in errs[0] and \
            "engine/b/y.c -> engine/a/z.h" in errs[0], errs
        _, errs = check(root, {("engine/b/", "engine/a/"): "test"})
        assert errs == [], errs
        _, errs = check(root, {("engine/a/", "engine/spool/"): "test",
                               ("engine/b/", "engine/a/"): "test"})
        assert len(errs) == 1 and "no longer exists" in errs[0], errs
        (root / "common/c.h").write_text('#include "engine.h"\n')
        (root / "engine/engine.h").write_text("")
        _, errs = check(root, {("engine/b/", "engine/a/"): "test"})
        assert "common/ depends on the engine" in errs[0] and \
            "include cycle between common/" in errs[1], errs


def main():
    self_test()
    root = Path(sys.argv[1] if len(sys.argv) > 1 else
                Path(__file__).resolve().parents[2]).resolve()
    edges, errors = check(root, ALLOWED)
    for a in sorted(edges):
        print(f"{a} -> " + (", ".join(sorted(edges[a])) or "(nothing)"))
    for (a, b), why in sorted(ALLOWED.items()):
        print(f"allowed: {a} -> {b}: {why}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        print(f"FAIL: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print("OK: no include cycle between engine units")
    return 0


if __name__ == "__main__":
    sys.exit(main())
