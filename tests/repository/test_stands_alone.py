"""The repository stands alone: a clone with nothing beside it has everything it reads.

A path outside the clone (a sibling directory, a developer's home, one machine's layout) works
on that machine only, so no tracked file may name one.
"""

from __future__ import annotations

import re
import subprocess

from tests.conftest import ROOT

# Written so that this file does not match itself.
OUTSIDE = re.compile(r"\.\./share[d]|/wor[k]/|/roo[t]/|/hom[e]/|/User[s]/")
# A Markdown link to a relative target (not a URL, not an anchor in the same page).
LINK = re.compile(r"\]\((?![a-z]+:|#)([^)\s]+)\)")


def tracked_files() -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    return [name for name in listing.decode().split("\0") if name]


def test_no_tracked_file_names_a_path_outside_the_repository() -> None:
    found = []
    for name in tracked_files():
        path = ROOT / name
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if OUTSIDE.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    assert found == []


def test_every_relative_link_in_the_docs_is_a_file_of_the_repository() -> None:
    """docs/protocol.md links the platform's document and the signature vectors; a moved file
    would leave a link to nothing."""
    broken = []
    for name in tracked_files():
        if not name.endswith(".md"):
            continue
        page = ROOT / name
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            resolved = (page.parent / target.split("#")[0]).resolve()
            if not (resolved.is_relative_to(ROOT) and resolved.exists()):
                broken.append(f"{name}: {target}")
    assert broken == []
