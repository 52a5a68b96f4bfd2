"""``trigger-compat worker``: run the workers of a catalog until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import difflib
import importlib
import logging
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

import click

from ..core.catalog import Catalog, load_catalog
from ..core.selection import select_tasks
from ..errors import TriggerCompatError, WorkerConfigError
from ..runtime.logs import LOG_FORMATS, LogFormat, configure_logging
from ..runtime.zodworker import ZodWorker
from . import main
from ._common import (
    EXIT_DATABASE,
    EXIT_USAGE,
    check_database_url,
    chosen_database_url,
    database_options,
    exit_code_of,
    fail,
)

EXIT_CONFIG = EXIT_USAGE
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _app_handlers(module_name: str | None) -> Mapping[str, Any]:
    if module_name is None:
        return {}
    if os.getcwd() not in sys.path:  # as `python -m`: the app is importable from here
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise click.UsageError(
                f"--app {module_name}: no module named {exc.name!r}; run from the directory "
                "that holds it or add that directory to PYTHONPATH"
            ) from None
        raise click.UsageError(
            f"--app {module_name}: importing it failed: {exc}; install that package"
        ) from None
    except Exception as exc:
        raise click.UsageError(
            f"--app {module_name}: importing it failed: {type(exc).__name__}: {exc}"
        ) from None
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
    app_name: str | None = None,
    direct_url: str | None = None,
    pooled: bool | None = None,
) -> list[ZodWorker]:
    chosen = names or tuple(catalog.workers)
    workers = []
    for name in chosen:
        if name not in catalog.workers:
            known = ", ".join(catalog.workers)
            raise click.UsageError(f"--worker {name}: no such worker in the catalog ({known})")
    known_tasks = [
        i
        for name in chosen
        for i in (
            *catalog.workers[name].tasks,
            *catalog.workers[name].recurring_tasks,
            *select_tasks(catalog.workers[name], {}).internal,
        )
    ]
    for wanted in tasks:
        if wanted not in known_tasks:
            close = difflib.get_close_matches(wanted, known_tasks, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see `catalog show`"
            raise click.UsageError(
                f"--tasks {wanted}: no such task in worker(s) {', '.join(chosen)}; {hint}"
            )
    for name in chosen:
        settings = catalog.workers[name]
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
                tasks=selection.identifiers,
                direct_url=direct_url,
                pooled=pooled,
            )
        )
    if not workers and app_name is not None:
        raise WorkerConfigError(
            f"no handler for the chosen tasks: --app {app_name}'s `handlers` names none of them "
            "and the catalog gives them no `handler: module:function`; add them to either"
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

    # SIGHUP: re-read the catalog file (as `catalog apply` does through a notification).
    def reload_all() -> None:
        for w in workers:
            w.request_reload()

    loop.add_signal_handler(signal.SIGHUP, reload_all)
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
        # Until a signal, or until a worker stops itself (a newer version migrated the schema
        # under it: it logged why).
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
        waits += [asyncio.ensure_future(w.wait_stopped()) for w in started]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
    finally:
        await asyncio.gather(*(w.stop() for w in started), return_exceptions=True)
    if any(w.worker is not None and w.worker.fatal is not None for w in started):
        sys.exit(EXIT_DATABASE)


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
@database_options
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
    help="Wake up on NOTIFY; --no-listen polls only.",
)
@click.option(
    "--direct-url",
    envvar="DIRECT_URL",
    default=None,
    help="PostgreSQL URL that reaches the server directly (not through a transaction-mode "
    "pooler), for the LISTEN connection (default: $DIRECT_URL). Without it a --pooled worker "
    "polls.",
)
@click.option(
    "--pooled",
    is_flag=True,
    default=False,
    help="--database-url goes through PgBouncer in transaction mode: no prepared statements, "
    "LISTEN only through --direct-url (also implied by ?pgbouncer=true on the URL).",
)
@click.option(
    "--log-level",
    type=click.Choice(_LOG_LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="text, or json: one JSON object per line (job_id, task, attempt, worker_id, "
    "duration, exc_info).",
)
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
    direct_url: str | None,
    pooled: bool,
    log_level: str,
    log_format: LogFormat,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Run the catalog's workers until SIGTERM/SIGINT (a second signal stops at once);
    SIGHUP (or `catalog apply`) reloads the catalog file without stopping."""
    configure_logging(log_level, log_format)
    try:
        if not os.path.isfile(catalog_path):
            fail(f"catalog {catalog_path} does not exist: pass --catalog FILE", EXIT_USAGE)
        catalog = load_catalog(catalog_path)
        handlers = _app_handlers(app)
        url = chosen_database_url(database_url)
        if direct_url:
            direct_url = check_database_url(direct_url, "--direct-url (or DIRECT_URL)")
        workers = _build(
            catalog,
            names,
            handlers,
            url,
            listen,
            concurrency,
            tasks,
            app,
            direct_url=direct_url,
            pooled=True if pooled else None,
        )
        for w in workers:  # reloadable from the file; --tasks keeps its choice on reload
            w.catalog_path, w.reload_adds_tasks = catalog_path, not tasks
        server = None
        if metrics_port is not None:
            from ..runtime.metrics import serve_worker_metrics

            schema = workers[0].client.schema
            try:
                server = serve_worker_metrics(
                    workers,
                    url,
                    schema=schema,
                    host=metrics_host,
                    port=metrics_port,
                    direct_url=direct_url,
                    pooled=workers[0].client.pooled,
                )
            except OSError as exc:
                fail(
                    f"--metrics-port {metrics_port}: cannot listen on {metrics_host}:"
                    f"{metrics_port} ({exc.strerror}); choose another port or stop the process "
                    "that holds it",
                    EXIT_USAGE,
                )
            click.echo(f"metrics on {server.url}", err=True)
        try:
            asyncio.run(_run(workers))
        finally:
            if server is not None:
                server.close()
    except TriggerCompatError as exc:
        fail(str(exc), exit_code_of(exc))
    except OSError as exc:
        fail(str(exc), EXIT_USAGE)
