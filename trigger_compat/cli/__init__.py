"""The ``trigger-compat`` command line: one group, one module per command family."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="trigger-compat")
def main() -> None:
    """trigger-compat: a PostgreSQL job queue with ZodWorker semantics."""


def _register() -> None:
    # Each command family lives in its own module and adds itself to ``main``.
    import importlib

    for name in ("catalog", "worker", "admin", "demo"):
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise


_register()
