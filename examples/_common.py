"""What the examples share: the shipped catalog and a database URL for ``python -m``."""

from __future__ import annotations

import os
from pathlib import Path

CATALOG = Path(__file__).resolve().parent.parent / "catalog.yaml"


def database_url() -> str:
    """``DATABASE_URL``, else the embedded server (``pip install -e '.[embedded]'``)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from trigger_compat.testing.server import start_embedded_server

    return start_embedded_server(Path(".trigger-compat") / "pgdata")
