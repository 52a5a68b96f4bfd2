"""Every Python block of migration-guide.md (and the README's testing example) is a verbatim
extract of a file that a test runs: each block names its twin in a comment above it."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"(?:<!-- twin: (?P<twin>\S+) -->\n)?```python\n(?P<code>.*?)```", re.S)


def blocks(doc: str) -> list[tuple[str | None, str]]:
    text = (ROOT / doc).read_text()
    return [(m.group("twin"), m.group("code")) for m in BLOCK.finditer(text)]


def contains(haystack: str, needle: str) -> bool:
    """``needle``'s lines appear consecutively in ``haystack``, at any one indentation."""
    want = textwrap.dedent(needle).strip("\n").splitlines()
    lines = haystack.splitlines()
    for i in range(len(lines) - len(want) + 1):
        window = "\n".join(lines[i : i + len(want)])
        if textwrap.dedent(window).splitlines() == want:
            return True
    return False


def test_the_guide_has_the_promised_call_sites() -> None:
    found = blocks("migration-guide.md")
    assert len(found) >= 12
    text = (ROOT / "migration-guide.md").read_text()
    assert text.count("```ts") >= 10


@pytest.mark.parametrize("doc", ["migration-guide.md", "README.md"])
def test_every_python_block_has_a_tested_twin(doc: str) -> None:
    for twin, code in blocks(doc):
        if doc == "README.md" and twin is None:
            continue  # the README's reference snippets are not guide material
        assert twin is not None, f"{doc}: a python block without a twin comment:\n{code}"
        path = ROOT / twin
        assert path.is_file(), f"{doc}: twin {twin} does not exist"
        tests = ROOT / "tests" / "examples"
        if path.parent != tests:  # a test file is its own test
            texts = [t.read_text() for t in tests.glob("test_*.py")]
            imported = re.compile(rf"examples\.{path.stem}\b|from examples import {path.stem}\b")
            assert any(imported.search(t) for t in texts), f"{twin} is not tested"
        assert contains(path.read_text(), code), f"{doc}: this block is not in {twin}:\n{code}"
