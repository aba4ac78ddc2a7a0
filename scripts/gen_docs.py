#!/usr/bin/env python3
"""gen_docs.py -- the README sections generated from the engine's tables.

The options are declared once, in engine/options.def, and the counters
once, in OTAS_STATS_FIELDS of include/otas/otas.h.  This script writes the
README's option table and its table of otas.stats() fields from them,
between the markers

    <!-- BEGIN generated: options (scripts/gen_docs.py) -->
    <!-- END generated: options -->

(and the same with "stats").  Run it after changing either table:

    python3 scripts/gen_docs.py          # rewrite README.md
    python3 scripts/gen_docs.py --check  # exit 1 when README.md is stale

tests/python/test_declared_once.py runs the check.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _args(text, start):
    """The comma-separated arguments of the macro call whose '(' is at
    text[start]: adjacent string literals joined, other arguments as
    written (whitespace squeezed).  Returns (args, index after ')')."""
    args, cur, depth, i = [], [], 0, start + 1
    strs = None
    while True:
        c = text[i]
        if c == '"':
            j, buf = i + 1, []
            while text[j] != '"':
                if text[j] == "\\":
                    buf.append(text[j + 1])
                    j += 2
                else:
                    buf.append(text[j])
                    j += 1
            strs = (strs or "") + "".join(buf)
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif c in ",)" and not depth:
            args.append(strs if strs is not None else " ".join("".join(cur).split()))
            cur, strs = [], None
            if c == ")":
                return args, i + 1
            i += 1
            continue
        if c == "\\" and text[i + 1] == "\n":
            i += 2
            continue
        cur.append(c)
        i += 1


def _calls(text, macro):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    out, pos = [], 0
    pat = re.compile(r"\b" + macro + r"\(")
    while True:
        m = pat.search(text, pos)
        if not m:
            return out
        args, pos = _args(text, m.end() - 1)
        out.append(args)


def options(root=ROOT):
    """[(name, type, field, default, min, max, shown_default, doc)] in
    table order."""
    text = (root / "engine" / "options.def").read_text()
    return [tuple(a) for a in _calls(text, "OTAS__OPTION")]


def stats_fields(root=ROOT):
    """[(kind, name, group, key, doc)] of OTAS_STATS_FIELDS in order."""
    text = (root / "include" / "otas" / "otas.h").read_text()
    m = re.search(r"#define OTAS_STATS_FIELDS\(C, G, S\)(.*?)\n\n", text, re.S)
    body = m.group(1)
    out = []
    for kind in re.finditer(r"\b([CGS])\(", body):
        args, _ = _args(body, kind.end() - 1)
        if kind.group(1) == "C":
            name, group, key, doc = args
        else:
            name, _type, group, key, doc = args
        out.append((kind.group(1), name, group, key, doc))
    return out


def stats_keys(root=ROOT):
    """The keys of otas.stats() in order, nested ones as "group.key"."""
    return [key if group == "top" else f"{group}.{key}"
            for _, _, group, key, _ in stats_fields(root)]


def _cell(s):
    return s.replace("|", "\\|")


def options_table(root=ROOT):
    lines = ["| option | default | meaning |", "|---|---|---|"]
    for name, _t, _f, default, _mn, _mx, shown, doc in options(root):
        if not shown:
            shown = f"`{default}`" if default else ""
        lines.append(f"| `{name}` | {_cell(shown)} | {_cell(doc)} |".replace("|  |", "| |"))
    return "\n".join(lines)


def stats_table(root=ROOT):
    kinds = {"C": "counter", "G": "now", "S": "text"}
    lines = ["| `otas.stats()` key | kind | meaning |", "|---|---|---|"]
    for kind, _name, group, key, doc in stats_fields(root):
        shown = key if group == "top" else f'["{group}"]["{key}"]'
        lines.append(f"| `{shown}` | {kinds[kind]} | {_cell(doc)} |")
    return "\n".join(lines)


def render(readme, root=ROOT):
    for what, table in (("options", options_table(root)),
                        ("stats", stats_table(root))):
        begin = f"<!-- BEGIN generated: {what} (scripts/gen_docs.py) -->"
        end = f"<!-- END generated: {what} -->"
        a, b = readme.find(begin), readme.find(end)
        if a < 0 or b < a:
            raise SystemExit(f"README.md: the markers of the {what} section "
                             f"are missing ({begin} ... {end})")
        readme = readme[:a + len(begin)] + "\n" + table + "\n" + readme[b:]
    return readme


def main(argv):
    path = ROOT / "README.md"
    old = path.read_text()
    new = render(old)
    if "--check" in argv:
        if new != old:
            print("README.md is out of date with engine/options.def or "
                  "OTAS_STATS_FIELDS: run python3 scripts/gen_docs.py",
                  file=sys.stderr)
            return 1
        return 0
    if new != old:
        path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
