"""A PgBouncer of the test's own in front of the test server: Debian's ``pgbouncer`` binary,
transaction pooling, its config, auth file, log and pid file in a temporary directory, on a
free port. Never the machine's own PgBouncer service (whatever listens on 6432).

``default_pool_size`` is small (2 server connections per user and database), so that session
state leaking from one client's transaction into another's shows up in the tests.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
ALIAS = "tc"  # the database name clients ask PgBouncer for


def pgbouncer_available() -> bool:
    return os.access(PGBOUNCER, os.X_OK)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class PgBouncer:
    """One PgBouncer process (``start``, ``stop``, ``restart`` on the same port)."""

    def __init__(
        self,
        database_url: str,
        *,
        pool_size: int = 2,
        pool_mode: str = "transaction",
        max_client_conn: int = 500,
    ) -> None:
        self.database_url = database_url
        self.dir = Path(tempfile.mkdtemp(prefix="trigger-compat-pgbouncer-"))
        self.port = free_port()
        self.pool_size = pool_size
        params = conninfo_to_dict(database_url)
        self.user = str(params.get("user") or pwd.getpwuid(os.getuid()).pw_name)
        server = {
            k: str(v)
            for k, v in params.items()
            if k in ("host", "port", "dbname", "user", "password") and v is not None
        }
        server.setdefault("host", "127.0.0.1")
        server.setdefault("user", self.user)
        target = " ".join(f"{k}={_quote(v)}" for k, v in server.items())
        # PgBouncer refuses to run as root: then it runs as an unprivileged user (-u).
        # A server on a Unix socket only (the embedded one) is reached as the owner of the
        # socket's directory.
        self.run_as: str | None = None
        if os.geteuid() == 0:
            host = server["host"]
            if host.startswith("/") and os.stat(host).st_uid != 0:
                self.run_as = pwd.getpwuid(os.stat(host).st_uid).pw_name
            for name in ("postgres", "nobody"):
                if self.run_as is not None:
                    break
                with contextlib.suppress(KeyError):
                    pwd.getpwnam(name)
                    self.run_as = name
            self.dir.chmod(0o777)
        (self.dir / "users.txt").write_text(f'"{self.user}" ""\n', encoding="utf-8")
        (self.dir / "pgbouncer.ini").write_text(
            f"""[databases]
{ALIAS} = {target}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir / "users.txt"}
admin_users = {self.user}
pool_mode = {pool_mode}
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = {max_client_conn}
server_reset_query =
server_check_delay = 0
server_login_retry = 1
query_wait_timeout = 30
logfile = {self.dir / "pgbouncer.log"}
pidfile = {self.dir / "pgbouncer.pid"}
""",
            encoding="utf-8",
        )
        for f in self.dir.iterdir():
            f.chmod(0o666)
        self.process: subprocess.Popen[bytes] | None = None

    # -- URLs -----------------------------------------------------------------------------

    def url(self, *, marked: bool = False) -> str:
        """The URL that goes through PgBouncer; ``marked`` adds ``?pgbouncer=true``."""
        url = f"postgresql://{self.user}@127.0.0.1:{self.port}/{ALIAS}"
        return url + "?pgbouncer=true" if marked else url

    @property
    def admin_url(self) -> str:
        """The admin console (``SHOW POOLS``, ``SHOW SERVERS``)."""
        return make_conninfo(host="127.0.0.1", port=self.port, dbname="pgbouncer", user=self.user)

    # -- the process -----------------------------------------------------------------------

    def start(self) -> None:
        cmd = [PGBOUNCER]
        if self.run_as is not None:
            cmd += ["-u", self.run_as]
        cmd.append(str(self.dir / "pgbouncer.ini"))
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.dir
        )
        end = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited at start:\n{self.log()}")
            try:
                psycopg.connect(self.admin_url, autocommit=True, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > end:
                    raise RuntimeError(f"pgbouncer did not start:\n{self.log()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (PgBouncer's fast exit: every connection is dropped), then wait."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        try:
            return (self.dir / "pgbouncer.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    # -- the admin console -----------------------------------------------------------------

    def show(self, what: str) -> list[dict[str, Any]]:
        """``SHOW <what>`` on the admin console, as dicts (``what`` is a fixed word)."""
        assert what.isalpha()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            cur = conn.cursor()
            # The admin console speaks the simple query protocol only.
            cur.execute(f"show {what}".encode(), prepare=False)
            names = [d.name for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def server_pids(self) -> list[int]:
        """The PostgreSQL backend pids of PgBouncer's server connections to the test server."""
        return [
            int(s["remote_pid"])
            for s in self.show("servers")
            if s.get("database") == ALIAS and s.get("remote_pid")
        ]


@contextlib.contextmanager
def running_pgbouncer(database_url: str, **kwargs: Any) -> Iterator[PgBouncer]:
    bouncer = PgBouncer(database_url, **kwargs)
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.cleanup()
