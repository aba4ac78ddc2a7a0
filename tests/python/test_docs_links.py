"""Docs live in the repository: every relative link of every tracked
Markdown file resolves to a file or directory inside it (anchors to a
heading of the target), and no tracked file names a path of a development
machine."""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def tracked(*patterns):
    out = subprocess.run(["git", "ls-files", "-z", "--", *patterns], cwd=REPO,
                         capture_output=True, check=True).stdout
    return [REPO / p for p in out.decode().split("\0") if p]


MARKDOWN = tracked("*.md")
# [text](target) and ![alt](target), and <a href="target">; not inside code.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|href=\"([^\"]+)\"")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE = re.compile(r"`[^`\n]*`")


def slug(heading):
    """GitHub's anchor for a heading."""
    h = heading.strip().lower()
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")


def anchors(md):
    text = FENCE.sub("", md.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)}


def links(md):
    text = CODE.sub("", FENCE.sub("", md.read_text(encoding="utf-8")))
    for m in LINK.finditer(text):
        yield m.group(1) or m.group(2)


def test_there_are_markdown_files():
    names = {p.relative_to(REPO).as_posix() for p in MARKDOWN}
    assert {"README.md", "CHANGELOG.md", "docs/PROTOCOL.md", "collector/README.md"} <= names


@pytest.mark.parametrize("md", MARKDOWN, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve_inside_the_repository(md):
    bad = []
    for target in links(md):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = md if not path else (md.parent / path).resolve()
        if path.startswith("/"):
            bad.append(f"{target}: absolute path")
        elif REPO not in dest.parents and dest != REPO:
            bad.append(f"{target}: outside the repository")
        elif not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert not bad, f"{md.relative_to(REPO)}: " + "; ".join(bad)


def test_no_markdown_names_a_file_outside_the_repository():
    """Also in code spans: `../shared/X.md` style references to files
    that live next to the repository on a development machine."""
    bad = []
    for md in MARKDOWN:
        for m in re.finditer(r"(?<![\w/.])((?:\.\./)+[\w./-]+)", md.read_text(encoding="utf-8")):
            dest = (md.parent / m.group(1)).resolve()
            if REPO not in dest.parents:
                bad.append(f"{md.relative_to(REPO)}: {m.group(1)}")
    assert not bad, bad


# Home directories and the development machine's work tree.  System paths
# (/etc/ssl, /usr/include, /proc, /tmp) are fine; so is this file, which
# has to spell the patterns.
DEV_PATH = re.compile(rb"(?<![\w.~-])/(?:work|root|home)/[\w.-]+")


def test_no_tracked_file_names_a_development_machine_path():
    me = Path(__file__).resolve()
    bad = []
    for f in tracked("."):
        if f == me or not f.is_file():
            continue
        data = f.read_bytes()
        if b"\0" in data[:4096]:  # binary
            continue
        for m in DEV_PATH.finditer(data):
            line = data.count(b"\n", 0, m.start()) + 1
            bad.append(f"{f.relative_to(REPO)}:{line}: {m.group().decode(errors='replace')}")
    assert not bad, "\n".join(bad[:40])
