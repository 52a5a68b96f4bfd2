"""A process of the rolling-upgrade test, run with either version of trigger-compat on its
import path (the previous release extracted from git, or this tree). It uses only API that
both versions have: ``AsyncClient(url, schema=...)``, ``migrate()``, ``add_job()``,
``Worker``, ``WorkerOptions`` and ``Task``.

``upgrade_proc.py migrate URL SCHEMA``
    Migrate the schema; print the versions applied.
``upgrade_proc.py produce URL SCHEMA SIDE --first N --step S``
    Add ``probe`` jobs ``{"n": N, "ms": ...}``, N, N + S, ... one every few milliseconds, each
    recorded in ``SIDE.enqueued`` once its add committed, until SIGTERM.
``upgrade_proc.py work URL SCHEMA SIDE --name NAME``
    Run a worker for ``probe`` until SIGTERM. The handler records its start and its end in
    ``SIDE.runs`` (one row per execution, with this process's pid and version label).

Logging goes to stderr at WARNING and above: what an operator would see of trouble.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Any

import psycopg
from psycopg import sql

import trigger_compat
from trigger_compat import AsyncClient
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

VERSION = os.environ.get("UPGRADE_VERSION_LABEL", "?")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("migrate", "produce", "work"))
    parser.add_argument("url")
    parser.add_argument("schema")
    parser.add_argument("side", nargs="?")
    parser.add_argument("--name", default="w")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rescue-after", type=float, default=2.0)
    return parser.parse_args()


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)
    return stop


def _dump_tasks() -> None:
    """SIGUSR1: where every task of this process waits (the test asks when it fails)."""
    for task in asyncio.all_tasks():
        print(f"task {task.get_name()}:", file=sys.stderr)
        task.print_stack(limit=6, file=sys.stderr)


async def produce(args: argparse.Namespace) -> None:
    stop = _stop_event()
    side = sql.Identifier(args.side)
    n = args.first
    async with (
        AsyncClient(args.url, schema=args.schema) as client,
        await psycopg.AsyncConnection.connect(args.url, autocommit=True) as conn,
    ):
        while not stop.is_set():
            await client.add_job("probe", {"n": n, "ms": 20 + n % 7 * 10})
            await conn.execute(
                sql.SQL("insert into {}.enqueued (n, version) values (%s, %s)").format(side),
                (n, VERSION),
            )
            n += args.step
            with contextlib.suppress(TimeoutError):  # a steady pace, until SIGTERM
                await asyncio.wait_for(stop.wait(), 0.01)


async def work(args: argparse.Namespace) -> None:
    stop = _stop_event()
    side = sql.Identifier(args.side)
    pid = os.getpid()
    async with await psycopg.AsyncConnection.connect(args.url, autocommit=True) as conn:
        lock = asyncio.Lock()  # one side connection for every slot

        async def record(text: str, *params: Any) -> None:
            async with lock:
                await conn.execute(sql.SQL(text).format(side), params)

        async def probe(payload: dict[str, Any], helpers: Any) -> None:
            n = int(payload["n"])
            await record(
                "insert into {}.runs (n, pid, version, worker) values (%s, %s, %s, %s)",
                n,
                pid,
                VERSION,
                args.name,
            )
            await asyncio.sleep(payload["ms"] / 1000)  # the job's work
            await record("update {}.runs set ended = true where n = %s and pid = %s", n, pid)

        async with AsyncClient(args.url, schema=args.schema) as client:
            worker = Worker(
                client,
                {"probe": Task("probe", probe)},
                name=args.name,
                options=WorkerOptions(
                    concurrency=args.concurrency,
                    poll_interval=0.2,
                    rescue_after=args.rescue_after,
                    shutdown_timeout=10.0,
                ),
                conninfo=args.url,
            )
            await worker.start()
            print(f"started {args.name} {VERSION} {trigger_compat.__file__}", flush=True)
            await stop.wait()
            await worker.stop()


async def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parse()
    if args.mode == "migrate":
        async with AsyncClient(args.url, schema=args.schema) as client:
            print(await client.migrate(), flush=True)
    elif args.mode == "produce":
        await produce(args)
    else:
        await work(args)


if __name__ == "__main__":
    asyncio.run(main())
