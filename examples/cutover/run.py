"""The cut-over without a stop, end to end, on one database (examples/cutover/README.md).

graphile-worker 0.16.6 (Node) holds trigger.dev v2's pending jobs; the webapp's producers
(ZodWorker's own statements, Node) are pointed at a graphile face; the jobs move into
trigger-compat with ``graphile import``; a Python worker runs every job, moved and new; then
the way back: ``graphile export`` and graphile-worker's own worker runs what was left.

    npm ci --prefix tests/graphile/node                 # graphile-worker 0.16.6 and pg
    DATABASE_URL=postgresql://... python examples/cutover/run.py

Without DATABASE_URL the embedded server is used (``pip install -e '.[embedded]'``). The
example makes its own three schemas (``--graphile-schema``, ``--schema``, ``--face-schema``)
and refuses to start when one of them exists; ``--reset`` drops them first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

HERE = Path(__file__).resolve().parent
if __package__ in (None, ""):  # `python examples/cutover/run.py`
    sys.path.insert(0, str(HERE.parent.parent))

from examples.cutover import handlers  # noqa: E402
from trigger_compat.runtime.zodworker import ZodWorker  # noqa: E402

CATALOG = HERE / "catalog.yaml"
NODE_MODULES = Path(
    os.environ.get("CUTOVER_NODE_MODULES")
    or HERE.parent.parent / "tests" / "graphile" / "node" / "node_modules"
)
#: The delay of the job left for the way back (trigger.dev's probeEndpoint waits 10 s).
PROBE_DELAY_SECONDS = 2
Say = Callable[[str], None]


@dataclass(frozen=True)
class Schemas:
    """The example's three schemas: graphile-worker's (WORKER_SCHEMA before the cut-over),
    trigger-compat's, and the face (WORKER_SCHEMA during it)."""

    graphile: str = "cutover_graphile_worker"
    trigger_compat: str = "cutover_trigger_compat"
    face: str = "cutover_graphile_face"

    def all(self) -> tuple[str, str, str]:
        return (self.graphile, self.trigger_compat, self.face)


def node_url(url: str) -> str:
    """``url`` as a postgresql:// URL for node-postgres (a key=value conninfo is converted)."""
    if url.startswith(("postgresql://", "postgres://")):
        return url
    d = conninfo_to_dict(url)
    user = str(d.get("user") or "postgres")
    auth = quote(user, safe="")
    if d.get("password"):
        auth += ":" + quote(str(d["password"]), safe="")
    host = quote(str(d.get("host") or "127.0.0.1"), safe="")
    return (
        f"postgresql://{auth}@{host}:{d.get('port') or 5432}/{quote(str(d.get('dbname') or user))}"
    )


class Steps:
    """Runs the commands of the cut-over, showing each as it would be typed."""

    def __init__(self, url: str, say: Say) -> None:
        self.url = url
        self.say = say

    async def _exec(self, shown: str, argv: Sequence[str], env: dict[str, str]) -> str:
        self.say("$ " + shown)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"{shown} exited with {proc.returncode}:\n{err.decode()}")
        return out.decode()

    async def cli(self, *args: str) -> str:
        """``trigger-compat ARGS`` (DATABASE_URL from the environment)."""
        code = "from trigger_compat.cli import main; main()"
        env = {**os.environ, "DATABASE_URL": self.url}
        shown = "trigger-compat " + " ".join(args)
        return await self._exec(shown, [sys.executable, "-c", code, *args], env)

    async def node(self, script: str, *args: str) -> Any:
        """``node examples/cutover/SCRIPT ARGS``; its one JSON line."""
        shown = f"node examples/cutover/{script} " + " ".join(_short(a) for a in args)
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed: the example drives graphile-worker")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": node_url(self.url),
            "CUTOVER_NODE_MODULES": str(NODE_MODULES),
        }
        return json.loads(await self._exec(shown, [node, str(HERE / script), *args], env))


def _short(arg: str) -> str:
    return arg if len(arg) < 60 else "'" + arg[:56] + "...'"


def _jobs_left(conn: psycopg.Connection[Any], schemas: Schemas) -> dict[str, int]:
    count = "select count(*) from {}"
    graphile = conn.execute(
        sql.SQL(count).format(sql.Identifier(schemas.graphile, "_private_jobs"))
    ).fetchone()
    ours = conn.execute(
        sql.SQL(count).format(sql.Identifier(schemas.trigger_compat, "jobs"))
    ).fetchone()
    assert graphile is not None and ours is not None
    return {"graphile": int(graphile[0]), "trigger_compat": int(ours[0])}


def prepare(url: str, schemas: Schemas, *, reset: bool = False) -> None:
    """Refuse to touch schemas that exist (unless ``reset``: drop them)."""
    with psycopg.connect(url, autocommit=True) as conn:
        existing = [
            r[0]
            for r in conn.execute(
                "select nspname from pg_catalog.pg_namespace where nspname = any(%s)",
                (list(schemas.all()),),
            )
        ]
        if existing and not reset:
            raise SystemExit(
                f"schema(s) {', '.join(sorted(existing))} exist already; pass --reset to drop "
                "them (the example makes its own), or choose other names"
            )
        for name in existing:
            conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))


# The webapp's calls, as ZodWorker makes them: its catalog's maxAttempts merged into the
# options (trigger.dev's worker.server.ts), the call site's key and run time.
BEFORE_IMPORT = [
    {
        "enqueue": "deliverEvent",
        "payload": {"id": "evt_2"},
        "options": {"jobKey": "event:evt_2", "maxAttempts": 5},
    }
]
AFTER_IMPORT = [
    # the callback arrived: disarm the timeout that graphile-worker held until the import
    {"dequeue": "process-callback:task_1"},
    # the schedule changed: its next tick, due now, replaces the one moved from graphile-worker
    {
        "enqueue": "events.deliverScheduled",
        "payload": {"id": "sched_1", "payload": {"ts": "now"}},
        "options": {"jobKey": "scheduled:sched_1", "runInSeconds": 0, "maxAttempts": 8},
    },
    # a key nobody enqueued: ZodWorker's dequeue returns undefined, as with graphile-worker
    {"dequeue": "event:never-enqueued"},
    {"enqueue": "scheduleEmail", "payload": {"email": "invite"}, "options": {"maxAttempts": 3}},
]
WAY_BACK = [
    {
        "enqueue": "probeEndpoint",
        "payload": {"id": "ep_1"},
        "options": {
            "jobKey": "probe:ep_1",
            "runInSeconds": PROBE_DELAY_SECONDS,
            "maxAttempts": 1,
        },
    }
]
# Jobs that instances not yet switched add to graphile-worker (its own addJob).
STRAGGLER = [
    {"identifier": "deliverEvent", "payload": {"id": "evt_3"}, "spec": {"jobKey": "event:evt_3"}}
]
LATE_STRAGGLER = [
    {"identifier": "startRun", "payload": {"id": "run_1"}, "spec": {"maxAttempts": 4}}
]
#: What the Python worker runs: 4 jobs moved by the first import (evt_1, whr_1, the welcome
#: email, evt_3), 3 enqueued through the face (evt_2, sched_1, the invite), 1 moved by the second.
PYTHON_RUNS = 8


async def cutover(url: str, schemas: Schemas = Schemas(), *, say: Say = print) -> dict[str, Any]:
    """Run the whole path; return what each side saw (tests/examples/test_example_cutover.py
    checks it)."""
    g, tc, face = schemas.all()
    steps = Steps(url, say)
    result: dict[str, Any] = {}

    say("\n1. Before: graphile-worker 0.16.6 holds trigger.dev's pending jobs")
    setup = await steps.node("graphile.js", "setup", g)
    result["graphile_added"] = setup["added"]
    result["graphile_crontabs"] = setup["known_crontabs"]

    say("\n2. trigger-compat's schema, and the face the webapp will enqueue into")
    await steps.cli("migrate", "--schema", tc)
    await steps.cli(
        "graphile", "face", "install", "--schema", face, "--shape", "0.16",
        "--trigger-compat-schema", tc,
    )  # fmt: skip

    say(
        f"\n3. Deploy the webapp with WORKER_SCHEMA={face}, WORKER_ENABLED=false, "
        "EXECUTION_WORKER_ENABLED=false, TASK_OPERATION_WORKER_ENABLED=false"
    )
    say("   a switched instance enqueues through the face:")
    result["face_before_import"] = await steps.node("producer.js", face, json.dumps(BEFORE_IMPORT))
    say("   an instance not yet switched still enqueues into graphile-worker:")
    await steps.node("graphile.js", "add", g, json.dumps(STRAGGLER))

    say("\n4. Every instance switched: move graphile-worker's jobs into trigger-compat")
    first = json.loads(
        await steps.cli("graphile", "import", "--from-schema", g, "--schema", tc, "--json")
    )
    say(f"   moved {first['moved']} job(s); recurring tasks: {', '.join(first['crontabs'])}")
    result["import"] = first

    say(
        "\n5. Start the Python workers (trigger-compat worker --catalog "
        "examples/cutover/catalog.yaml --app examples.cutover.handlers)"
    )
    handlers.ran.clear()
    worker = ZodWorker(
        "workerQueue",
        CATALOG,
        database_url=url,
        schema=tc,
        handlers=handlers.handlers,
        poll_interval=0.2,
    )
    await worker.initialize()
    try:
        say("   the webapp enqueues and dequeues through the face, as it always did:")
        result["face_after_import"] = await steps.node(
            "producer.js", face, json.dumps(AFTER_IMPORT)
        )
        say("   a straggler (an instance restarted late) enqueued into graphile-worker:")
        await steps.node("graphile.js", "add", g, json.dumps(LATE_STRAGGLER))
        second = json.loads(
            await steps.cli("graphile", "import", "--from-schema", g, "--schema", tc, "--json")
        )
        say(f"   a second import moved {second['moved']} job(s)")
        result["second_import"] = second
        await _until_drained(url, schemas)
    finally:
        await worker.stop()
    result["python_ran"] = [
        {"identifier": r[0], "payload": r[1], "attempt": r[3]}
        for r in handlers.ran
        if r[0] != "purgeOldIndexings"  # an hourly tick, when the example crosses the hour
    ]
    counts = Counter(r["identifier"] for r in result["python_ran"])
    say("   the Python worker ran: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    with psycopg.connect(url, autocommit=True) as conn:
        result["known_crontabs"] = {
            r[0]: r[1]
            for r in conn.execute(
                sql.SQL("select identifier, known_since from {}").format(
                    sql.Identifier(tc, "known_crontabs")
                )
            )
        }

    say("\n6. The way back: Python workers stopped, the webapp pointed back at graphile-worker")
    say("   an instance not yet pointed back enqueues a probe, due in a moment:")
    result["face_way_back"] = await steps.node("producer.js", face, json.dumps(WAY_BACK))
    back = json.loads(
        await steps.cli("graphile", "export", "--to-schema", g, "--schema", tc, "--json")
    )
    say(f"   moved {back['moved']} job(s) back to graphile-worker")
    result["export"] = back
    ran = await steps.node("graphile.js", "run", g, "1")
    say(f"   graphile-worker ran: {', '.join(r['identifier'] for r in ran['ran'])}")
    result["graphile_ran"] = ran

    say("\n7. No producer calls the face any more: remove it")
    await steps.cli("graphile", "face", "uninstall", "--schema", face)
    with psycopg.connect(url, autocommit=True) as conn:
        result["jobs_left"] = _jobs_left(conn, schemas)
        found = conn.execute(
            "select count(*) from pg_catalog.pg_namespace where nspname = %s", (face,)
        ).fetchone()
        result["face_exists"] = found == (1,)
    say(f"\njobs left: {result['jobs_left']}")
    return result


async def _until_drained(url: str, schemas: Schemas, timeout: float = 60.0) -> None:
    """Until the Python worker ran every job and trigger-compat holds none (a deadline, not a
    wait: it polls)."""
    deadline = time.monotonic() + timeout
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            done = len([r for r in handlers.ran if r[0] != "purgeOldIndexings"])
            row = await (
                await conn.execute(
                    sql.SQL("select count(*) from {}").format(
                        sql.Identifier(schemas.trigger_compat, "jobs")
                    )
                )
            ).fetchone()
            if done >= PYTHON_RUNS and row == (0,):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Python worker ran {done} of {PYTHON_RUNS} jobs in {timeout:.0f} s"
                )
            await asyncio.sleep(0.05)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    defaults = Schemas()
    parser.add_argument("--graphile-schema", default=defaults.graphile)
    parser.add_argument("--schema", default=defaults.trigger_compat, help="trigger-compat's")
    parser.add_argument("--face-schema", default=defaults.face)
    parser.add_argument("--reset", action="store_true", help="drop the three schemas first")
    args = parser.parse_args(argv)
    from examples._common import database_url

    url = database_url()
    schemas = Schemas(args.graphile_schema, args.schema, args.face_schema)
    prepare(url, schemas, reset=args.reset)
    asyncio.run(cutover(url, schemas))


if __name__ == "__main__":
    main()
