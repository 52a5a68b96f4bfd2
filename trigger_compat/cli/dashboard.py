"""``trigger-compat dashboard``: serve the web dashboard (:mod:`trigger_compat.web`; the
``web`` extra) until Ctrl-C.

It listens on 127.0.0.1 by default. Any other address needs an access token
(``--auth-token`` or ``TRIGGER_COMPAT_DASHBOARD_TOKEN``), or the command refuses to start
(exit 2): the dashboard can retry, fail and delete jobs.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import click

from ..errors import TriggerCompatError
from . import main
from ._common import (
    EXIT_USAGE,
    chosen_database_url,
    database_options,
    exit_code_of,
    fail,
)

DEFAULT_PORT = 8787


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@main.command()
@database_options
@click.option(
    "--schema",
    envvar="TRIGGER_COMPAT_SCHEMA",
    default=None,
    help="Database schema (default: the catalog's databaseSchema, else trigger_compat).",
)
@click.option(
    "--catalog",
    "catalog_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Catalog file: each task's settings and the recurring schedules on the pages "
    "(default: ./catalog.yaml when it exists).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--read-only", is_flag=True, help="Show everything, change nothing.")
@click.option(
    "--auth-token",
    envvar="TRIGGER_COMPAT_DASHBOARD_TOKEN",
    default=None,
    help="Access token the pages ask for (default: $TRIGGER_COMPAT_DASHBOARD_TOKEN); "
    "required to listen on an address other than loopback.",
)
def dashboard(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    host: str,
    port: int,
    read_only: bool,
    auth_token: str | None,
) -> None:
    """Serve the web dashboard: job counts and throughput, the jobs with filters, each job,
    queues and tasks, recurring tasks and workers; retry, reschedule, fail and delete jobs."""
    if not auth_token:
        auth_token = None
    if not is_loopback(host) and auth_token is None:
        fail(
            f"refusing to listen on {host} without an access token: pass --auth-token (or set "
            "TRIGGER_COMPAT_DASHBOARD_TOKEN), or listen on 127.0.0.1",
            EXIT_USAGE,
        )
    try:
        import uvicorn

        from ..web import create_app
    except ImportError as exc:
        fail(
            f"the dashboard needs the 'web' extra ({exc.name} is missing): "
            "pip install 'trigger-compat[web]'",
            EXIT_USAGE,
        )
    from ..client import Client
    from ..core import admin_ops as ao

    if catalog_path is None and Path("catalog.yaml").is_file():
        catalog_path = "catalog.yaml"
    try:
        url = chosen_database_url(database_url)
        client = Client(url, schema=schema, catalog=catalog_path)
        client.execute(ao.applied_migrations())  # reachable and migrated, before serving
    except TriggerCompatError as exc:
        fail(str(exc), exit_code_of(exc))
    app = create_app(client, read_only=read_only, auth_token=auth_token)
    shown = f"[{host}]" if ":" in host else host
    click.echo(
        f"dashboard of schema {client.schema} on http://{shown}:{port}/"
        f"{' (read-only)' if read_only else ''}; Ctrl-C to stop",
        err=True,
    )
    config: dict[str, Any] = {"host": host, "port": port, "log_level": "warning"}
    try:
        uvicorn.run(app, **config)
    finally:
        client.close()
