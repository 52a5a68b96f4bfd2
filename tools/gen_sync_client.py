"""Write trigger_compat/client.py from trigger_compat/async_client.py.

The two clients have one source: ``AsyncClient`` is written by hand, ``Client`` is derived from
it by the word-level rewrites below (awaits dropped, async context managers and pools swapped
for their sync twins), then sorted and formatted by ruff. Nothing else may differ between them,
so a change is made once, in async_client.py, followed by::

    python tools/gen_sync_client.py           # rewrite client.py
    python tools/gen_sync_client.py --check   # exit 1 when client.py is not current (CI)

The rewrites are plain text on purpose: async_client.py is written so that they suffice (no
``asyncio.gather``, no async-only helpers); a construct they cannot map shows up as a mypy or
test failure of the generated file.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "trigger_compat" / "async_client.py"
TARGET = ROOT / "trigger_compat" / "client.py"

HEADER = (
    "# Generated from async_client.py by tools/gen_sync_client.py: do not edit; edit\n"
    "# async_client.py and run `python tools/gen_sync_client.py`.\n"
)

# Whole phrases first (order matters), then words.
PHRASES: list[tuple[str, str]] = [
    (
        "The asynchronous client: the source of the synchronous one",
        "The synchronous client: generated from the asynchronous one",
    ),
    ("import asyncio\n", "import threading\n"),
    ("asyncio.Lock()", "threading.Lock()"),
    ("psycopg.AsyncConnection.connect(", "psycopg.connect("),
    ("an AsyncConnectionPool", "a ConnectionPool"),
    ("an AsyncConnection", "a Connection"),
    ("async with ", "with "),
    ("async for ", "for "),
    ("async def ", "def "),
    ("await asyncio.sleep(", "time.sleep("),
    ("await ", ""),
    ("__aenter__", "__enter__"),
    ("__aexit__", "__exit__"),
]
WORDS: dict[str, str] = {
    "AsyncClient": "Client",
    "AsyncConnectionPool": "ConnectionPool",
    "AsyncConnection": "Connection",
    "AsyncCursor": "Cursor",
    "AsyncTransaction": "Transaction",
    "AsyncIterator": "Iterator",
    "asynccontextmanager": "contextmanager",
}
_WORD = re.compile(r"\b(" + "|".join(sorted(WORDS, key=len, reverse=True)) + r")\b")


def convert(text: str) -> str:
    for old, new in PHRASES:
        text = text.replace(old, new)
    text = _WORD.sub(lambda m: WORDS[m[1]], text)
    return HEADER + text


def _ruff(path: Path) -> None:
    # Sort and de-duplicate imports (Iterator may now be imported twice), then format.
    ruff = [sys.executable, "-m", "ruff"]
    subprocess.run(
        [*ruff, "check", "--quiet", "--fix", "--select", "I,F401", str(path)],
        check=False,
        capture_output=True,
    )
    subprocess.run([*ruff, "format", "--quiet", str(path)], check=True)


def generate() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        # Inside the repository tree would pick up its ruff settings; copy them alongside.
        out = Path(tmp) / "client.py"
        out.write_text(convert(SOURCE.read_text(encoding="utf-8")), encoding="utf-8")
        (Path(tmp) / "pyproject.toml").write_text(
            (ROOT / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8"
        )
        _ruff(out)
        return out.read_text(encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when client.py is not current")
    args = parser.parse_args()
    text = generate()
    if args.check:
        if TARGET.read_text(encoding="utf-8") != text:
            print(
                "trigger_compat/client.py is not current: run `python tools/gen_sync_client.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
