"""The ``trigger-compat`` command line: one group, one module per command family.

A command's module is imported only when that command runs (or when ``--help`` lists them
all), so that a quick probe such as ``trigger-compat health`` starts fast.
"""

from __future__ import annotations

import importlib

import click

# command name -> the module of this package that defines it
COMMANDS: dict[str, str] = {
    "catalog": "catalog",
    "worker": "worker",
    "demo": "demo",
    **dict.fromkeys(
        (
            "migrate",
            "status",
            "jobs",
            "enqueue",
            "retry",
            "fail",
            "reschedule",
            "remove",
            "clean",
            "health",
        ),
        "admin",
    ),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"{__name__}.{module}")  # adds its commands to main
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="trigger-compat")
def main() -> None:
    """trigger-compat: a PostgreSQL job queue with ZodWorker semantics."""
