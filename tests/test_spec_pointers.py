"""The code points at the spec (``docs/spec/``): every ``docs/spec/NAME.md`` named in a module
exists, and every section it names (``§N``, or ``§N-§M``) is a numbered heading there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bppool", "chain", "emitter", "pool_dac", "pool_protocol", "producer_client", "service_shell")
POINTER = re.compile(
    r"docs/spec/(\w+)\.md``?((?:\s*§\d+(?:-§\d+)?(?:\s*(?:\([^)]*\))?\s*(?:and|,)\s*§\d+)*)*)"
)


def pointers() -> list[tuple[Path, str, list[int]]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for match in POINTER.finditer(path.read_text()):
                found.append((path, match.group(1), [int(n) for n in re.findall(r"§(\d+)", match.group(2))]))
    return found


def test_every_pointer_names_a_chapter_and_its_sections() -> None:
    found = pointers()
    assert len({p for p, _, _ in found}) >= 20  # the core modules point at their sections
    problems = []
    for path, chapter, sections in found:
        doc = ROOT / "docs" / "spec" / f"{chapter}.md"
        where = path.relative_to(ROOT)
        if not doc.is_file():
            problems.append(f"{where}: docs/spec/{chapter}.md does not exist")
            continue
        headings = {int(n) for n in re.findall(r"^## (\d+)\.", doc.read_text(), flags=re.MULTILINE)}
        problems += [
            f"{where}: docs/spec/{chapter}.md has no section {n}" for n in sections if n not in headings
        ]
    assert problems == []
