"""``trigger-compat demo``: watch the shipped catalog run a mix of jobs for a few seconds."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from pathlib import Path

import click

from ..demo.runner import format_summary, run_demo
from ..errors import TriggerCompatError
from . import main
from ._common import database_url_option, resolve_database_url


@main.command()
@click.option(
    "--seconds",
    type=click.FloatRange(min=1),
    default=20,
    show_default=True,
    help="How long to run.",
)
@database_url_option
@click.option(
    "--catalog",
    "catalog_path",
    default=None,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Catalog file (default: the demo's own, trigger_compat/demo/catalog.yaml).",
)
def demo(seconds: float, database_url: str | None, catalog_path: Path | None) -> None:
    """Run the catalog's workers on a mix of jobs (keyed, delayed, failing then succeeding,
    a named queue, recurring ticks) in a schema of their own, showing progress; exit 0 after
    --seconds or Ctrl-C with a summary."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("trigger_compat.worker").setLevel(logging.ERROR)  # failures are shown
    out = sys.stdout
    tty = out.isatty()
    began = time.monotonic()
    try:
        url = resolve_database_url(database_url)

        async def go() -> str:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            summary = await run_demo(
                url, seconds=seconds, out=out, tty=tty, catalog_path=catalog_path, stop=stop
            )
            return format_summary(summary, time.monotonic() - began)

        click.echo(asyncio.run(go()))
    except (TriggerCompatError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
