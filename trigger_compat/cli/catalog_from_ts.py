"""``trigger-compat catalog from-ts``: write catalog.yaml from a ZodWorker ``worker.server.ts``.

The TypeScript is read by ``trigger_compat/tsconvert/extract.mjs`` (Node.js and the
``typescript`` package pinned in that folder); :mod:`trigger_compat.core.ts_catalog` turns its
JSON into catalog data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from ..core.catalog_loader import parse_catalog
from ..core.ts_catalog import Conversion, catalog_from_extract
from ..errors import ConfigurationError
from ._common import EXIT_USAGE, fail
from .catalog import catalog

TSCONVERT = Path(__file__).resolve().parent.parent / "tsconvert"
EXTRACT = TSCONVERT / "extract.mjs"
INSTALL_HINT = f"the TypeScript compiler is not installed: run `npm ci --prefix {TSCONVERT}`"


class ExtractError(ConfigurationError):
    """Node.js or the TypeScript compiler is missing, or the reader failed."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


def run_extract(
    source: Path,
    *,
    evaluate: bool = True,
    env_file: Path | None = None,
    node: str | None = None,
    script: Path = EXTRACT,
) -> dict[str, Any]:
    """Run extract.mjs (``script``) on ``source`` and return its JSON."""
    node = node or shutil.which("node")
    if node is None:
        raise ExtractError("node is not on PATH; Node.js 18 or later is needed to read TypeScript")
    command = [node, str(script), str(source)]
    if not evaluate:
        command.append("--no-evaluate")
    if env_file is not None:
        command += ["--env", str(env_file)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ExtractError(f"reading {source} took longer than {exc.timeout} s") from exc
    if done.returncode == 3 and "typescript-missing" in done.stderr:
        raise ExtractError(INSTALL_HINT)
    if done.returncode != 0:
        raise ExtractError(f"reading {source} failed: {done.stderr.strip()[-2000:]}")
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def render(
    conv: Conversion,
    source: str,
    typescript: str,
    *,
    output: Path | None,
    schemas_dir: Path | None,
) -> str:
    """The catalog YAML: a header naming the source and every note, then the data. Payload
    schemas go inline, or into ``schemas_dir`` (one ``<identifier>.json`` each)."""
    data = conv.catalog
    base = (output.parent if output else Path.cwd()).resolve()
    for worker in data.get("workers", {}).values():
        for identifier, task in worker.get("tasks", {}).items():
            schema = conv.schemas.get(identifier, {})
            if schemas_dir is None:
                task["schema"] = schema
            else:
                schemas_dir.mkdir(parents=True, exist_ok=True)
                target = schemas_dir / f"{identifier}.json"
                target.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
                task["schema"] = os.path.relpath(target.resolve(), base)
    lines = [
        f"# Converted by `trigger-compat catalog from-ts` from {source}",
        f"# (read with TypeScript {typescript}). Review the notes below before use.",
        "# ZodWorker's own behaviour is not in this file: from 2024-05-15 it deleted a job whose",
        "# last attempt failed; add `onFinalFailure: delete` to a worker to keep that.",
    ]
    if conv.untranslated:
        lines.append("#")
        lines.append("# Not translated:")
        lines += [f"#   - {note}" for note in conv.untranslated]
    if conv.warnings:
        lines.append("#")
        lines.append("# Warnings:")
        lines += [f"#   - {note}" for note in conv.warnings]
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(lines) + "\n\n" + body


@catalog.command("from-ts")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the catalog here (default: standard output).",
)
@click.option(
    "--schemas-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write each payload schema to DIR/<identifier>.json instead of inline.",
)
@click.option(
    "--env",
    "env_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The env schema file (env.server.ts): `env.NAME` settings take its .default() values.",
)
@click.option(
    "--no-evaluate",
    is_flag=True,
    help="Do not evaluate the zod schemas (every payload schema is left open).",
)
def from_ts(
    source: Path,
    output: Path | None,
    schemas_dir: Path | None,
    env_file: Path | None,
    no_evaluate: bool,
) -> None:
    """Write catalog.yaml from a ZodWorker catalog file (worker.server.ts).

    Settings are read statically with the TypeScript compiler API (Node.js, and the
    `typescript` package installed with `npm ci` in trigger_compat/tsconvert). Payload schemas
    are evaluated with zod-to-json-schema when the team's packages are installed beside
    SOURCE; otherwise they are left open ({}) with a warning. Everything that could not be
    translated is listed on standard error and in the file's header.
    """
    try:
        data = run_extract(source, evaluate=not no_evaluate, env_file=env_file)
    except ExtractError as exc:  # no Node.js, or a file it cannot read: bad input (2)
        fail(str(exc), EXIT_USAGE)
    conv = catalog_from_extract(data)
    text = render(
        conv,
        str(source),
        str(data.get("typescript", "?")),
        output=output,
        schemas_dir=schemas_dir,
    )
    base = (output.parent if output else Path.cwd()).resolve()
    report = parse_catalog(text, str(output or "catalog.yaml"), base_dir=base)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    for note in conv.untranslated:
        click.echo(f"not translated: {note}", err=True)
    for note in conv.warnings:
        click.echo(f"warning: {note}", err=True)
    for problem in report.problems:
        click.echo(f"catalog check: {problem}", err=True)
    n_tasks = sum(len(w.get("tasks", {})) for w in conv.catalog.get("workers", {}).values())
    n_rec = sum(len(w.get("recurringTasks", {})) for w in conv.catalog.get("workers", {}).values())
    click.echo(
        f"{output or 'stdout'}: {len(conv.catalog.get('workers', {}))} worker(s), {n_tasks} "
        f"task(s), {n_rec} recurring task(s); {len(conv.untranslated)} not translated, "
        f"{len(conv.warnings)} warning(s)",
        err=True,
    )
    if not report.ok:
        sys.exit(1)
