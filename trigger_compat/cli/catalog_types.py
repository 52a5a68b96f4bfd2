"""``trigger-compat catalog types``: write typed payload models from a catalog's schemas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from ..core.catalog_loader import inspect_catalog
from ..core.payload_types import payload_types_source
from ._common import EXIT_PROBLEMS, EXIT_USAGE, fail
from .catalog import catalog


def render(path: str) -> str:
    """The typed payload module of the catalog file ``path`` (formatted as ruff would, when
    ruff is installed, so that a checked-in file stays lint-clean)."""
    report = inspect_catalog(path)
    if report.catalog is None:
        for problem in report.errors:
            click.echo(str(problem), err=True)
        fail(
            f"{path}: invalid catalog; run 'trigger-compat catalog validate {path}'",
            EXIT_PROBLEMS,
        )
    schemas = {i: t.resolved_schema for i, t in report.catalog.tasks.items()}
    text = payload_types_source(schemas, Path(path).name)
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--quiet", "--line-length", "100", "-"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout if done.returncode == 0 and done.stdout else text


@catalog.command("types")
@click.argument("path", default="catalog.yaml", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", default=None, type=click.Path(dir_okay=False), help="Write here (- = stdout)."
)
@click.option("--check", is_flag=True, help="Exit 1 when OUTPUT is not current; write nothing.")
def types(path: str, output: str | None, check: bool) -> None:
    """Write typed payloads (TypedDicts, and a `job()` overloaded per task) for the catalog's
    JSON Schemas, so that a type checker catches a wrong payload at the call site. Idempotent."""
    if not Path(path).is_file():
        fail(f"catalog {path} does not exist: pass the catalog file's path", EXIT_USAGE)
    text = render(path)
    if output is None or output == "-":
        if check:
            fail("--check needs -o FILE", EXIT_USAGE)
        click.echo(text, nl=False)
        return
    target = Path(output)
    current = target.read_text(encoding="utf-8") if target.is_file() else None
    if check:
        if current != text:
            fail(f"{output} is not current: run 'trigger-compat catalog types {path} -o {output}'",
                 EXIT_PROBLEMS)  # fmt: skip
        return
    if current != text:
        target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output} ({len(text.splitlines())} lines)" if current != text else
               f"{output} is current")  # fmt: skip
