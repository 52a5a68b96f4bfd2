"""The wheel as an index would ship it: built from the package's sources alone, installed into
a fresh virtual environment outside the checkout, where ``trigger-compat demo`` runs.

The fresh environment gets the wheel only; the wheel's dependencies come from the environment
running the tests (a ``.pth`` line naming its site-packages), so that the test needs no index
and stays fast. That path is added after the new environment's own site-packages, whose
``trigger_compat`` is the wheel's (the checkout's editable install is not activated: ``.pth``
files are read only in site directories).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: What the build reads besides the package itself.
PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE")


def _setuptools_is_recent() -> bool:
    try:
        return int(version("setuptools").split(".")[0]) >= 77
    except (PackageNotFoundError, ValueError):
        return False


def _build_wheel(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "trigger_compat",
        src / "trigger_compat",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules"),
    )
    dist = tmp_path / "dist"
    command = [sys.executable, "-m", "pip", "wheel", str(src), "-w", str(dist), "--no-deps", "-q"]
    if _setuptools_is_recent():  # else pip fetches setuptools>=77 into an isolated build env
        command.append("--no-build-isolation")
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=180)
    [wheel] = dist.glob("trigger_compat-*.whl")
    return wheel


@pytest.mark.packaging
def test_the_wheel_installs_in_a_fresh_venv_and_runs_the_demo(
    tmp_path: Path, database_url: str
) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = zf.read(metadata).decode()
    assert "trigger_compat/demo/catalog.yaml" in names
    assert "trigger_compat/py.typed" in names
    assert any(n.startswith("trigger_compat/sql/migrations/") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in meta
    assert "Classifier: Typing :: Typed" in meta and "Classifier: Framework :: Pytest" in meta
    assert "Requires-Dist: psycopg[pool]" in meta
    assert 'Requires-Dist: psycopg[binary]>=3.2; extra == "binary"' in meta
    assert "pytest" not in "".join(
        line for line in meta.splitlines() if line.startswith("Requires-Dist")
    )  # the development tools are a dependency group, not published

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-index", str(wheel)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "test-dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )

    elsewhere = tmp_path / "elsewhere"  # no catalog.yaml, no checkout
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
    where = subprocess.run(
        [str(python), "-c", "import trigger_compat as t; print(t.__file__, t.__version__)"],
        cwd=elsewhere, env=env, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    assert where[0].startswith(site), where
    assert where[1] == version("trigger-compat")

    demo = subprocess.run(
        [str(venv / "bin" / "trigger-compat"), "demo", "--seconds", "5", "--database-url",
         database_url],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert "demo finished after" in demo.stdout
