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
    assert "### 4.1 Transactions in psycopg vs Prisma" in text


def call_site_rows() -> list[tuple[int, str, str, str]]:
    """(number, TypeScript file:line, tx column, Python function) of the guide's table."""
    text = (ROOT / "migration-guide.md").read_text()
    section = text[text.index("### 4.3 Every v2 call site") : text.index("### 4.4")]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].isdigit():
            rows.append((int(cells[0]), cells[1], cells[5], cells[6].strip("`")))
    return rows


def test_every_call_site_keeps_the_transaction_the_typescript_passes() -> None:
    import inspect

    from examples import callsites

    rows = call_site_rows()
    assert [r[0] for r in rows] == list(range(1, 44))  # the 43 v2 call sites of fc609470
    assert len({r[1] for r in rows}) == 43
    for number, where, tx, name in rows:
        fn = getattr(callsites, name, None)
        assert fn is not None, f"row {number} ({where}): no function {name}"
        assert tx in ("tx", "—"), f"row {number}: tx column {tx!r}"
        passes_tx = "tx=conn" in inspect.getsource(fn)
        assert passes_tx == (tx == "tx"), (
            f"row {number} ({where}): {name} and the TypeScript differ"
        )
    assert sum(r[2] == "tx" for r in rows) == 29
    ported = {
        name
        for name, fn in vars(callsites).items()
        if inspect.iscoroutinefunction(fn) and fn.__module__ == callsites.__name__
    }
    assert ported == {r[3] for r in rows}  # and no function left out of the table


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
