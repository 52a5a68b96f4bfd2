"""``trigger-compat graphile``: cut-over from a graphile-worker deployment (trigger.dev v2).

The subcommands live in ``graphile_face`` (``face install`` / ``face uninstall``) and
``graphile_transfer`` (``import`` / ``export``); importing them registers them on this group.
"""

from __future__ import annotations

from . import main


@main.group("graphile")
def graphile() -> None:
    """Cut-over from graphile-worker: a face for its producers, import and export of jobs."""


from . import graphile_face as _face  # noqa: E402  (registers `face`)
from . import graphile_transfer as _transfer  # noqa: E402  (registers `import`, `export`)

__all__ = ["_face", "_transfer", "graphile"]
