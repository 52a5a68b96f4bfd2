"""The ``trigger-compat`` command line."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="trigger-compat")
def main() -> None:
    """trigger-compat: a PostgreSQL job queue with ZodWorker semantics."""


if __name__ == "__main__":  # pragma: no cover
    main()
