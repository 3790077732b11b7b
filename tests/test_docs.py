"""The README stays a short tour that CI can run, and the manual's links lead somewhere.

CI runs the test command written in README.md's opening block; the manual lives in docs/, where every
relative link and every #section it names must exist (GitHub's heading anchors). Pure file reading: fast.
"""

import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DOCS = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def prose(text: str) -> str:
    """The text outside code: fenced blocks and inline code spans hold examples, not links or headings."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def anchors(path: str) -> set[str]:
    """GitHub's anchors for a Markdown file's headings: lower case, punctuation dropped, spaces to hyphens,
    repeats numbered."""
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", read(path)).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1))  # a link in a heading keeps its text
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_readme_opens_with_the_two_commands():
    first_block = FENCE.search(read(README))
    assert first_block is not None, "README.md has no code block"
    for command in ("bash scripts/main.sh", "bash scripts/test.sh"):  # .ci/run runs the test command
        assert re.search(rf"^{re.escape(command)}(\s|$)", first_block.group(0), re.M), command


def test_readme_is_a_short_tour():
    lines = read(README).count("\n")
    assert lines < 150, f"README.md has {lines} lines: the manual belongs in docs/"


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: os.path.relpath(p, ROOT))
def test_relative_links_resolve(path):
    broken = []
    for target in LINK.findall(prose(read(path))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(dest):
            broken.append(f"{target}: no such file")
        elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with that anchor in {os.path.relpath(dest, ROOT)}")
    assert not broken, broken


def test_module_paths_of_addon_and_service_are_in_one_table():
    """Those modules are being moved by role; one table in development.md says where each lives."""
    module = re.compile(r"addon/[\w/]*\.py|realcam_core/[\w/]*\.py|service/\w+\.py")
    scattered = {
        os.path.relpath(p, ROOT): sorted(set(module.findall(read(p))))
        for p in [README, *DOCS]
        if os.path.basename(p) != "development.md" and module.search(read(p))
    }
    assert not scattered, scattered


def test_named_repository_paths_exist():
    """A file or folder of this repository named in code quotes exists: the "Where things live" table and the
    rest of the manual go stale otherwise."""
    named = re.compile(r"`((?:addon|backend|bench|docs|samples|scripts|tests)/[\w./-]*)")
    missing = []
    for path in [README, *DOCS]:
        for name in sorted(set(named.findall(read(path)))):
            if not os.path.exists(os.path.join(ROOT, name)):
                missing.append(f"{os.path.relpath(path, ROOT)}: {name}")
    assert not missing, missing
