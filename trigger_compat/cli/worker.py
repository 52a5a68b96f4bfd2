"""``trigger-compat worker``: run the workers of a catalog until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import sys
from collections.abc import Mapping
from typing import Any

import click

from ..core.catalog import Catalog, load_catalog
from ..core.selection import select_tasks
from ..errors import TriggerCompatError, WorkerConfigError
from ..runtime.zodworker import ZodWorker
from . import main
from ._common import database_url_option, resolve_database_url

EXIT_CONFIG = 2


def _app_handlers(module_name: str | None) -> Mapping[str, Any]:
    if module_name is None:
        return {}
    module = importlib.import_module(module_name)
    handlers = getattr(module, "handlers", None)
    if not isinstance(handlers, Mapping):
        raise click.UsageError(
            f"--app {module_name}: the module must define `handlers`, a mapping of task "
            "identifier to handler function"
        )
    return handlers


def _build(
    catalog: Catalog,
    names: tuple[str, ...],
    app: Mapping[str, Any],
    database_url: str,
    listen: bool,
    concurrency: int | None,
    tasks: tuple[str, ...],
) -> list[ZodWorker]:
    chosen = names or tuple(catalog.workers)
    workers = []
    for name in chosen:
        settings = catalog.workers.get(name)
        if settings is None:
            known = ", ".join(catalog.workers)
            raise click.UsageError(f"--worker {name}: no such worker in the catalog ({known})")
        selection = select_tasks(settings, app, only=tasks or None)
        if selection.unhandled:
            logging.getLogger("trigger_compat.worker").warning(
                "worker %s: no handler for %s; their jobs are left for other processes",
                name,
                ", ".join(sorted(selection.unhandled)),
            )
        if not selection.handled:
            continue
        workers.append(
            ZodWorker(
                name,
                catalog,
                handlers=selection.handlers,
                database_url=database_url,
                listen=listen,
                concurrency=concurrency,
                tasks=selection.handled,
            )
        )
    if not workers:
        raise WorkerConfigError(
            "no task has a handler: add `handler: module:function` to the catalog's tasks or "
            "pass --app MODULE whose `handlers` maps identifiers to functions "
            "(try --app trigger_compat.demo.handlers)"
        )
    return workers


async def _run(workers: list[ZodWorker]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = 0
    forced: set[asyncio.Task[None]] = set()

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            click.echo("stopping: waiting for running jobs (signal again to stop now)", err=True)
            stop.set()
        else:
            for w in workers:
                if w.worker is not None:
                    forced.add(loop.create_task(w.worker.stop(timeout=0)))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    started: list[ZodWorker] = []
    try:
        for w in workers:
            await w.initialize()
            started.append(w)
            assert w.worker is not None
            click.echo(
                f"worker {w.name} ({w.worker.worker_id}) running "
                f"{len(w.worker.tasks)} task(s), concurrency {w.options.concurrency}",
                err=True,
            )
        await stop.wait()
    finally:
        await asyncio.gather(*(w.stop() for w in started), return_exceptions=True)


@main.command()
@click.option(
    "--catalog",
    "catalog_path",
    default="catalog.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The catalog file.",
)
@click.option(
    "--worker",
    "names",
    multiple=True,
    help="Run only this catalog worker (repeatable). Default: every worker.",
)
@click.option(
    "--app",
    "app",
    default=None,
    help="Module to import whose `handlers` maps task identifiers to handlers.",
)
@click.option("--tasks", "tasks", multiple=True, help="Run only these task identifiers.")
@database_url_option
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Override the catalog's concurrency.",
)
@click.option(
    "--listen/--no-listen",
    default=True,
    show_default=True,
    help="Wake up on NOTIFY; --no-listen polls only (for PgBouncer transaction mode).",
)
@click.option("--log-level", default="INFO", show_default=True)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics on http://HOST:PORT/metrics (e.g. 9464).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address the metrics server binds to (0.0.0.0 to expose it).",
)
def worker(
    catalog_path: str,
    names: tuple[str, ...],
    app: str | None,
    tasks: tuple[str, ...],
    database_url: str | None,
    concurrency: int | None,
    listen: bool,
    log_level: str,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Run the catalog's workers until SIGTERM/SIGINT (a second signal stops at once)."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        catalog = load_catalog(catalog_path)
        handlers = _app_handlers(app)
        url = resolve_database_url(database_url)
        workers = _build(catalog, names, handlers, url, listen, concurrency, tasks)
        server = None
        if metrics_port is not None:
            from ..runtime.metrics import serve_worker_metrics

            schema = workers[0].client.schema
            server = serve_worker_metrics(
                workers, url, schema=schema, host=metrics_host, port=metrics_port
            )
            click.echo(f"metrics on {server.url}", err=True)
        try:
            asyncio.run(_run(workers))
        finally:
            if server is not None:
                server.close()
    except (TriggerCompatError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
