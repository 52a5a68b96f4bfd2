"""The ``trigger-compat`` command line: one group, one module per command family.

A command's module is imported only when that command runs (or when ``--help`` lists them
all), so that a quick probe such as ``trigger-compat health`` starts fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

# command name -> the module of this package that defines it
COMMANDS: dict[str, str] = {
    "catalog": "catalog",
    "worker": "worker",
    "demo": "demo",
    "dashboard": "dashboard",
    "graphile": "graphile",
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
            "pause",
            "resume",
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

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """As click's, but a usage error is one line naming the fix, not a usage block."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        from ._common import EXIT_INTERRUPTED, fail

        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "trigger-compat"
            fail(f"{exc.format_message()} (see '{where} --help')", exc.exit_code)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            fail("interrupted; nothing more was done", EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="trigger-compat")
def main() -> None:
    """trigger-compat: a PostgreSQL job queue with ZodWorker semantics."""
